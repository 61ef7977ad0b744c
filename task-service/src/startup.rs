//! Building and running task-service: its database and worker pools, the
//! event topology, the API (TaskService behind auth), the HTTP listener, the
//! outbox relay, the reminder scheduler, the WatchTasks feed and the request
//! id janitor; serving and stopping are `todogenie_common::serve`'s.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use todogenie_common::serve::{self, Built, MAX_REQUEST_BYTES};
use todogenie_proto::v1::task_service_server::TaskServiceServer;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Routes;

use crate::auth::{AuthInterceptor, JwtKeys};
use crate::config::Settings;
use crate::grpc::TaskApi;
use crate::page_token::PageTokens;
use crate::relay::Relay;
use crate::scheduler::Scheduler;
use crate::service::{Limits, Tasks};
use crate::store::Commit;
use crate::wake::Wake;
use crate::watch::WatchHub;
use crate::{http, store};

/// Concurrent outbox relay loops per process.
pub const RELAY_WORKERS: usize = 2;

/// The service, built: `grpc_addr()`, `http_addr()` and `pool()` come
/// from `serve::Built`.
pub struct Application(Built<Settings>);

impl Application {
    /// Connects, migrates and binds; port 0 picks a free port (tests).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = store::connect(
            &settings.database_url,
            settings.database_max_connections,
            settings.database_statement_cache.into(),
            settings.rpc_timeout,
        )
        .await?;
        let grpc = (settings.grpc_addr, "TASK_GRPC_ADDR");
        let http = (settings.http_addr, "TASK_HTTP_ADDR");
        Built::bind(settings, pool, grpc, http).await.map(Self)
    }

    /// Serves until `shutdown` is cancelled, then stops within
    /// `serve::SHUTDOWN_DEADLINE`.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (settings, pool, listeners) = self.0.into_parts();
        let shared = &settings.shared;
        let keys = Arc::new(JwtKeys::new(&shared.jwt_secret));
        let broker_up = Arc::new(AtomicBool::new(false));
        let url = &settings.database_url;
        let relay_pool =
            store::connect_worker_pool(url, RELAY_WORKERS as u32 + 1, Commit::Asynchronous).await?;
        let scheduler_pool = store::connect_worker_pool(url, 2, Commit::Durable).await?;
        let wake = Wake::start(pool.clone(), shutdown.clone());
        let relay = Relay::new(
            relay_pool.clone(),
            shared.amqp_url.clone(),
            shared.topology(),
            broker_up.clone(),
            wake.clone(),
        );
        // Several relay loops overlap one batch's database work with another's
        // wait for confirms; `outbox_claims` keeps their claims apart.
        let mut workers: Vec<_> = (0..RELAY_WORKERS)
            .map(|_| tokio::spawn(relay.clone().run(shutdown.clone())))
            .collect();
        workers.push(tokio::spawn(
            Scheduler::new(scheduler_pool.clone(), wake.clone()).run(shutdown.clone()),
        ));
        workers.push(tokio::spawn(forget_old_request_ids(
            pool.clone(),
            shutdown.clone(),
        )));
        let watch = WatchHub::start(
            shared.amqp_url.clone(),
            shared.amqp_exchange.clone(),
            shutdown.clone(),
        );
        let limits = Limits::new(settings.limits);
        let api = TaskApi::new(
            Tasks::new(pool.clone(), wake, limits.clone()),
            PageTokens::new(&shared.jwt_secret),
            watch,
            limits,
        );
        let api = InterceptedService::new(
            TaskServiceServer::new(api).max_decoding_message_size(MAX_REQUEST_BYTES),
            AuthInterceptor::new(keys),
        );
        let service = serve::Service {
            program: "task-service",
            name: <TaskServiceServer<TaskApi> as NamedService>::NAME,
            api: Routes::new(api),
            http: http::router(http::HttpState {
                pool: pool.clone(),
                broker_up,
            }),
            rpc_timeout: settings.rpc_timeout,
            cors: settings.shared.cors_allowed_origins.clone(),
        };
        let result = serve::run(listeners, service, workers, shutdown).await;
        relay_pool.close().await;
        scheduler_pool.close().await;
        pool.close().await;
        result
    }
}

impl std::ops::Deref for Application {
    type Target = Built<Settings>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Deletes CreateTask request ids past their 24 hours, hourly.
async fn forget_old_request_ids(pool: PgPool, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match store::requests::delete_expired(&pool, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "forgot expired request ids"),
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "cannot delete expired request ids"
            ),
        }
    }
}
