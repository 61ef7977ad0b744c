//! Building and running the service: database, listeners, the gRPC server
//! (TaskService behind auth, health, reflection), the HTTP listener, the
//! outbox relay, the reminder scheduler, the WatchTasks feed, and a graceful
//! shutdown with a deadline.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use todogenie_proto::v1::task_service_server::TaskServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

use crate::auth::{AuthInterceptor, JwtKeys};
use crate::config::Settings;
use crate::grpc::TaskApi;
use crate::page_token::PageTokens;
use crate::relay::Relay;
use crate::scheduler::Scheduler;
use crate::service::Tasks;
use crate::store::Commit;
use crate::wake::Wake;
use crate::watch::WatchHub;
use crate::{http, store};

/// Largest request we decode: a task at its limits is well under 200 KiB.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Concurrent outbox relay loops per process.
pub const RELAY_WORKERS: usize = 2;
/// How long in-flight work may take to finish once shutdown starts.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(9);

pub struct Application {
    settings: Settings,
    pool: PgPool,
    grpc_listener: TcpListener,
    http_listener: TcpListener,
}

impl Application {
    /// Connects, migrates and binds; port 0 picks a free port (tests).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool =
            store::connect(&settings.database_url, settings.database_max_connections).await?;
        let grpc_listener = TcpListener::bind(settings.grpc_addr)
            .await
            .with_context(|| format!("cannot listen on TASK_GRPC_ADDR {}", settings.grpc_addr))?;
        let http_listener = TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| format!("cannot listen on TASK_HTTP_ADDR {}", settings.http_addr))?;
        Ok(Self {
            settings,
            pool,
            grpc_listener,
            http_listener,
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight RPCs finish
    /// within [`SHUTDOWN_DEADLINE`].
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let keys = Arc::new(JwtKeys::new(&self.settings.jwt_secret));
        let amqp_url = self.settings.amqp_url.clone();
        let exchange = self.settings.amqp_exchange.clone();
        let broker_up = Arc::new(AtomicBool::new(false));
        let url = &self.settings.database_url;
        let relay_pool =
            store::connect_worker_pool(url, RELAY_WORKERS as u32 + 1, Commit::Asynchronous).await?;
        let scheduler_pool = store::connect_worker_pool(url, 2, Commit::Durable).await?;
        let wake = Wake::start(self.pool.clone(), shutdown.clone());
        let relay = Relay::new(
            relay_pool.clone(),
            amqp_url.clone(),
            exchange.clone(),
            broker_up.clone(),
            wake.clone(),
        );
        // Several relay loops overlap one batch's database work with another's
        // wait for confirms; SKIP LOCKED keeps their claims apart.
        let relays: Vec<_> = (0..RELAY_WORKERS)
            .map(|_| tokio::spawn(relay.clone().run(shutdown.clone())))
            .collect();
        let scheduler = tokio::spawn(
            Scheduler::new(scheduler_pool.clone(), wake.clone()).run(shutdown.clone()),
        );
        let watch = WatchHub::start(amqp_url, exchange, shutdown.clone());
        let api = TaskApi::new(
            Tasks::new(self.pool.clone(), wake),
            PageTokens::new(&self.settings.jwt_secret),
            watch,
        );
        let task_service = InterceptedService::new(
            TaskServiceServer::new(api).max_decoding_message_size(MAX_REQUEST_BYTES),
            AuthInterceptor::new(keys),
        );

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<TaskServiceServer<TaskApi>>().await;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(todogenie_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1().context("reflection v1")?;
        let reflection_v1alpha = reflection().build_v1alpha().context("reflection v1alpha")?;

        let grpc = Server::builder()
            .timeout(self.settings.rpc_timeout)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            // Beyond this many RPCs in flight on one connection, answer
            // RESOURCE_EXHAUSTED at once instead of queueing without bound.
            .concurrency_limit_per_connection(512)
            .load_shed(true)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(task_service)
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY a response that spans segments waits for
                // the client's delayed ACK: 40 ms added to every ListTasks.
                TcpIncoming::from(self.grpc_listener).with_nodelay(Some(true)),
                shutdown.clone().cancelled_owned(),
            );
        let http = axum::serve(
            self.http_listener,
            http::router(http::HttpState {
                pool: self.pool.clone(),
                broker_up,
            }),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let janitor = tokio::spawn(forget_old_request_ids(self.pool.clone(), shutdown.clone()));
        let upkeep = tokio::spawn(crate::metrics::run_upkeep(shutdown.clone()));

        tracing::info!(grpc = %self.settings.grpc_addr, http = %self.settings.http_addr, "task-service serving");
        let serve = async {
            let (grpc, http) = tokio::join!(grpc, http);
            grpc.context("gRPC server failed")?;
            http.context("HTTP server failed")?;
            anyhow::Ok(())
        };
        tokio::pin!(serve);
        let result = tokio::select! {
            result = &mut serve => result,
            () = async {
                shutdown.cancelled().await;
                health.set_not_serving::<TaskServiceServer<TaskApi>>().await;
                tokio::time::sleep(SHUTDOWN_DEADLINE).await;
            } => {
                tracing::warn!("in-flight work did not finish within the shutdown deadline");
                Ok(())
            }
        };
        shutdown.cancel();
        // The relay finishes its batch in flight; the deadline bounds it.
        let background = async {
            let _ = tokio::join!(
                janitor,
                upkeep,
                scheduler,
                futures::future::join_all(relays)
            );
        };
        if tokio::time::timeout(SHUTDOWN_DEADLINE, background)
            .await
            .is_err()
        {
            tracing::warn!("background workers did not stop within the shutdown deadline");
        }
        relay_pool.close().await;
        scheduler_pool.close().await;
        self.pool.close().await;
        tracing::info!("task-service stopped");
        result
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
