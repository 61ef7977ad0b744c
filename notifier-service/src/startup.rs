//! Building and running notifier-service: its database, the event consumer,
//! the delivery engine, the inbound worker, the API (NotifierService behind
//! auth) and the HTTP listener with the webhooks; serving and stopping are
//! `todogenie_common::serve`'s.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use todogenie_common::auth::{AuthInterceptor, JwtKeys};
use todogenie_common::page_token::PageTokens;
use todogenie_common::serve::{self, Built, MAX_REQUEST_BYTES};
use todogenie_proto::v1::notifier_service_server::NotifierServiceServer;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Routes;

use crate::config::{ProviderKind, Secret, Settings};
use crate::confirm::Confirmer;
use crate::consumer::Consumer;
use crate::delivery::{CredentialState, Engine, EngineConfig, Share};
use crate::grpc::NotifierApi;
use crate::http::{self, HttpState};
use crate::inbound::InboundWorker;
use crate::providers::{self, LogProvider, MetaProvider, Provider, Templates, TwilioProvider};
use crate::service::Notifier;
use crate::store;
use crate::task_client::TaskClient;
use crate::webhooks::{Intake, WebhookState};

/// Delivery loops per process: one sends while the other claims and records.
pub const ENGINE_WORKERS: usize = 2;
/// Reminders of one recipient due within this of each other go out as one
/// digest: the first waits this long for the others to arrive.
pub const DIGEST_GATHER: Duration = Duration::from_millis(500);
/// While the provider refuses our credentials, one notification tries them
/// this often.
pub const CREDENTIAL_PROBE: Duration = Duration::from_secs(30);

/// The service, built: `grpc_addr()`, `http_addr()` and `pool()` come
/// from `serve::Built`.
pub struct Application(Built<Settings>);

impl std::ops::Deref for Application {
    type Target = Built<Settings>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Application {
    /// Connects, migrates and binds; port 0 picks a free port (tests).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check().map_err(anyhow::Error::msg)?;
        let pool =
            store::connect(&settings.database_url, settings.database_max_connections).await?;
        let grpc = (settings.grpc_addr, "NOTIFIER_GRPC_ADDR");
        let http = (settings.http_addr, "NOTIFIER_HTTP_ADDR");
        Built::bind(settings, pool, grpc, http).await.map(Self)
    }

    /// Serves until `shutdown` is cancelled, then stops within
    /// `serve::SHUTDOWN_DEADLINE`; rounds in flight finish their sends and
    /// record them.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (settings, pool, listeners) = self.0.into_parts();
        let settings = &settings;
        let shared = &settings.shared;
        let keys = Arc::new(JwtKeys::new(&shared.jwt_secret));
        let http_client = providers::http_client(settings.provider_timeout);
        let whatsapp = whatsapp_provider(settings, http_client.clone());
        let sms = sms_provider(settings, http_client);
        // The account's rate, shared with every live replica.
        let share = Arc::new(Share::new(settings.whatsapp_max_mps));
        share.join(&pool).await?;
        let limiter = share.limiter.clone();
        let credentials = Arc::new(CredentialState::default());
        let broker_up = Arc::new(AtomicBool::new(false));
        let engine = Engine::new(
            pool.clone(),
            whatsapp.clone(),
            sms,
            limiter.clone(),
            EngineConfig {
                lease: settings.send_lease,
                provider_timeout: settings.provider_timeout,
                retry_base: settings.retry_base,
                max_attempts: settings.max_attempts,
                max_mps: settings.whatsapp_max_mps,
                credential_probe: CREDENTIAL_PROBE,
            },
            credentials.clone(),
        );
        let mut workers: Vec<_> = (0..ENGINE_WORKERS)
            .map(|_| tokio::spawn(engine.clone().run(shutdown.clone())))
            .collect();
        workers.push(tokio::spawn(
            Consumer {
                pool: pool.clone(),
                amqp_url: shared.amqp_url.clone(),
                topology: shared.topology(),
                digest_gather: DIGEST_GATHER,
                engine,
                broker_up: broker_up.clone(),
            }
            .run(shutdown.clone()),
        ));
        let inbound_wake = Arc::new(Notify::new());
        workers.push(tokio::spawn(
            InboundWorker {
                pool: pool.clone(),
                tasks: TaskClient::new(&settings.task_service_url, keys.clone())?,
                replies: whatsapp.clone(),
                limiter: limiter.clone(),
                wake: inbound_wake.clone(),
            }
            .run(shutdown.clone()),
        ));
        let confirm_wake = Arc::new(Notify::new());
        workers.push(tokio::spawn(
            Confirmer {
                pool: pool.clone(),
                provider: whatsapp.clone(),
                limiter: limiter.clone(),
                wake: confirm_wake.clone(),
            }
            .run(shutdown.clone()),
        ));
        workers.push(tokio::spawn(
            share.clone().run(pool.clone(), shutdown.clone()),
        ));
        workers.push(tokio::spawn(crate::retention::run(
            pool.clone(),
            settings.retention,
            shutdown.clone(),
        )));

        let api = NotifierApi::new(Notifier::new(
            pool.clone(),
            PageTokens::new(&shared.jwt_secret),
            confirm_wake,
        ));
        let api = InterceptedService::new(
            NotifierServiceServer::new(api).max_decoding_message_size(MAX_REQUEST_BYTES),
            AuthInterceptor::new(keys),
        );
        let http = http::router(
            HttpState {
                pool: pool.clone(),
                broker_up,
                credentials,
            },
            WebhookState {
                intake: Intake::start(pool.clone()),
                app_secret: settings.whatsapp_app_secret.clone(),
                verify_token: settings.whatsapp_verify_token.clone(),
                twilio_auth_token: settings.twilio_auth_token.clone(),
                public_url: settings.public_url.clone(),
                inbound: inbound_wake,
                bodies: todogenie_common::request_budget::RequestBudget::new(
                    crate::webhooks::MAX_BODY_BYTES_IN_FLIGHT,
                ),
            },
        );
        tracing::info!(provider = ?settings.provider(), "sending through");
        let service = serve::Service {
            program: "notifier-service",
            name: <NotifierServiceServer<NotifierApi> as NamedService>::NAME,
            api: Routes::new(api),
            http,
            rpc_timeout: settings.rpc_timeout,
            cors: settings.shared.cors_allowed_origins.clone(),
        };
        let result = serve::run(listeners, service, workers, shutdown).await;
        // Nothing sends any more: the others may take this share at once.
        share.leave(&pool).await;
        pool.close().await;
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
                .unwrap_or_else(|| Secret::new(missing())),
            Templates {
                reminder: settings.whatsapp_reminder_template.clone(),
                confirm: settings.whatsapp_confirm_template.clone(),
                language: settings.whatsapp_template_language.clone(),
            },
        )),
        ProviderKind::Twilio => Arc::new(TwilioProvider::whatsapp(
            http,
            &settings.twilio_api_base,
            settings.twilio_account_sid.as_deref().unwrap_or_default(),
            settings
                .twilio_auth_token
                .clone()
                .unwrap_or_else(|| Secret::new(missing())),
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
