//! Building and running the service: database, listeners, the gRPC server
//! (NotifierService behind auth, health, reflection), the HTTP listener with
//! the webhooks, the event consumer, the delivery engine, the inbound worker,
//! and a graceful shutdown with a deadline.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use todogenie_common::auth::{AuthInterceptor, JwtKeys};
use todogenie_common::page_token::PageTokens;
use todogenie_proto::v1::notifier_service_server::NotifierServiceServer;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

use crate::config::{ProviderKind, Settings};
use crate::consumer::Consumer;
use crate::delivery::{CredentialState, Engine, EngineConfig, RateLimiter};
use crate::grpc::NotifierApi;
use crate::http::{self, HttpState};
use crate::inbound::InboundWorker;
use crate::providers::{self, LogProvider, MetaProvider, Provider, TwilioProvider};
use crate::store;
use crate::task_client::TaskClient;
use crate::webhooks::WebhookState;

pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Delivery loops per process: one sends while the other claims and records.
pub const ENGINE_WORKERS: usize = 2;
/// How long in-flight work may take to finish once shutdown starts.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(9);
/// Reminders of one recipient due within this of each other go out as one
/// digest: the first waits this long for the others to arrive.
pub const DIGEST_GATHER: Duration = Duration::from_millis(500);
/// While the provider refuses our credentials, one notification tries them
/// this often.
pub const CREDENTIAL_PROBE: Duration = Duration::from_secs(30);

pub struct Application {
    settings: Settings,
    pool: PgPool,
    grpc_listener: TcpListener,
    http_listener: TcpListener,
}

impl Application {
    /// Connects, migrates and binds; port 0 picks a free port (tests).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check().map_err(anyhow::Error::msg)?;
        let pool =
            store::connect(&settings.database_url, settings.database_max_connections).await?;
        let grpc_listener = TcpListener::bind(settings.grpc_addr)
            .await
            .with_context(|| {
                format!("cannot listen on NOTIFIER_GRPC_ADDR {}", settings.grpc_addr)
            })?;
        let http_listener = TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| {
                format!("cannot listen on NOTIFIER_HTTP_ADDR {}", settings.http_addr)
            })?;
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

    /// Serves until `shutdown` is cancelled, then lets in-flight work finish
    /// within [`SHUTDOWN_DEADLINE`].
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let settings = &self.settings;
        let keys = Arc::new(JwtKeys::new(&settings.jwt_secret));
        let http_client = providers::http_client(settings.provider_timeout);
        let whatsapp = whatsapp_provider(settings, http_client.clone());
        let sms = sms_provider(settings, http_client);
        let limiter = Arc::new(RateLimiter::per_second(settings.whatsapp_max_mps));
        let credentials = Arc::new(CredentialState::default());
        let broker_up = Arc::new(AtomicBool::new(false));
        let engine = Engine::new(
            self.pool.clone(),
            whatsapp.clone(),
            sms,
            limiter.clone(),
            EngineConfig {
                lease: settings.send_lease,
                retry_base: settings.retry_base,
                max_attempts: settings.max_attempts,
                max_mps: settings.whatsapp_max_mps,
                credential_probe: CREDENTIAL_PROBE,
            },
            credentials.clone(),
        );
        let engines: Vec<_> = (0..ENGINE_WORKERS)
            .map(|_| tokio::spawn(engine.clone().run(shutdown.clone())))
            .collect();
        let consumer = tokio::spawn(
            Consumer {
                pool: self.pool.clone(),
                amqp_url: settings.amqp_url.clone(),
                exchange: settings.amqp_exchange.clone(),
                queue: settings.amqp_queue.clone(),
                digest_gather: DIGEST_GATHER,
                engine,
                broker_up: broker_up.clone(),
            }
            .run(shutdown.clone()),
        );
        let inbound_wake = Arc::new(Notify::new());
        let inbound = tokio::spawn(
            InboundWorker {
                pool: self.pool.clone(),
                tasks: TaskClient::new(&settings.task_service_url, keys.clone())?,
                replies: whatsapp,
                limiter,
                wake: inbound_wake.clone(),
            }
            .run(shutdown.clone()),
        );

        let api = NotifierApi::new(self.pool.clone(), PageTokens::new(&settings.jwt_secret));
        let notifier_service = InterceptedService::new(
            NotifierServiceServer::new(api).max_decoding_message_size(MAX_REQUEST_BYTES),
            AuthInterceptor::new(keys),
        );
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<NotifierServiceServer<NotifierApi>>()
            .await;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(todogenie_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1().context("reflection v1")?;
        let reflection_v1alpha = reflection().build_v1alpha().context("reflection v1alpha")?;
        let grpc = Server::builder()
            .timeout(settings.rpc_timeout)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .concurrency_limit_per_connection(512)
            .load_shed(true)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(notifier_service)
            .serve_with_incoming_shutdown(
                TcpIncoming::from(self.grpc_listener).with_nodelay(Some(true)),
                shutdown.clone().cancelled_owned(),
            );
        let http = axum::serve(
            self.http_listener,
            http::router(
                HttpState {
                    pool: self.pool.clone(),
                    broker_up,
                    credentials,
                },
                WebhookState {
                    pool: self.pool.clone(),
                    app_secret: settings.whatsapp_app_secret.clone(),
                    verify_token: settings.whatsapp_verify_token.clone(),
                    twilio_auth_token: settings.twilio_auth_token.clone(),
                    public_url: settings.public_url.clone(),
                    inbound: inbound_wake,
                },
            ),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let janitor = tokio::spawn(forget_old_events(self.pool.clone(), shutdown.clone()));
        let upkeep = tokio::spawn(todogenie_common::metrics::run_upkeep(shutdown.clone()));

        tracing::info!(
            grpc = %settings.grpc_addr,
            http = %settings.http_addr,
            provider = ?settings.provider(),
            "notifier-service serving"
        );
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
                health.set_not_serving::<NotifierServiceServer<NotifierApi>>().await;
                tokio::time::sleep(SHUTDOWN_DEADLINE).await;
            } => {
                tracing::warn!("in-flight work did not finish within the shutdown deadline");
                Ok(())
            }
        };
        shutdown.cancel();
        // Rounds in flight finish their sends and record them; the deadline
        // bounds it.
        let background = async {
            let _ = tokio::join!(
                consumer,
                inbound,
                janitor,
                upkeep,
                futures::future::join_all(engines)
            );
        };
        if tokio::time::timeout(SHUTDOWN_DEADLINE, background)
            .await
            .is_err()
        {
            tracing::warn!("background workers did not stop within the shutdown deadline");
        }
        self.pool.close().await;
        tracing::info!("notifier-service stopped");
        result
    }
}

fn whatsapp_provider(settings: &Settings, http: reqwest::Client) -> Arc<dyn Provider> {
    let missing = || String::new();
    match settings.provider() {
        ProviderKind::Meta => Arc::new(MetaProvider::new(
            http,
            &settings.whatsapp_api_base,
            &settings.whatsapp_api_version,
            settings
                .whatsapp_phone_number_id
                .as_deref()
                .unwrap_or_default(),
            settings
                .whatsapp_access_token
                .clone()
                .unwrap_or_else(|| crate::config::Secret::new(missing())),
            settings.whatsapp_reminder_template.clone(),
            settings.whatsapp_template_language.clone(),
        )),
        ProviderKind::Twilio => Arc::new(TwilioProvider::whatsapp(
            http,
            &settings.twilio_api_base,
            settings.twilio_account_sid.as_deref().unwrap_or_default(),
            settings
                .twilio_auth_token
                .clone()
                .unwrap_or_else(|| crate::config::Secret::new(missing())),
            settings.twilio_whatsapp_from.as_deref().unwrap_or_default(),
            settings
                .twilio_reminder_content_sid
                .clone()
                .unwrap_or_default(),
            settings.public_url.as_deref(),
        )),
        ProviderKind::Log => Arc::new(LogProvider),
    }
}

/// SMS through Twilio, where its account, token and sender are all set.
fn sms_provider(settings: &Settings, http: reqwest::Client) -> Option<Arc<dyn Provider>> {
    let (Some(sid), Some(token), Some(from)) = (
        &settings.twilio_account_sid,
        &settings.twilio_auth_token,
        &settings.twilio_sms_from,
    ) else {
        return None;
    };
    Some(Arc::new(TwilioProvider::sms(
        http,
        &settings.twilio_api_base,
        sid,
        token.clone(),
        from,
        settings.public_url.as_deref(),
    )))
}

/// Forgets applied event ids after a week, hourly.
async fn forget_old_events(pool: PgPool, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let before = chrono::Utc::now() - chrono::Duration::days(7);
        match store::events::forget_before(&pool, before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(forgotten = n, "forgot old event ids"),
            Err(e) => tracing::warn!(error = %e, "cannot forget old event ids"),
        }
    }
}
