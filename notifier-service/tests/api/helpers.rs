//! `spawn_pair`: the real notifier-service (and, for end-to-end tests, the
//! real task-service) on random ports, each with a fresh database on the real
//! PostgreSQL, this test's own exchange and queue on the real RabbitMQ, and
//! the WhatsApp Cloud API stand-in in between.

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use notifier_service::config::{ProviderKind, Secret, Settings};
use sqlx::PgPool;
use todogenie_common::amqp::Topology;
use todogenie_common::auth::{JwtKeys, Role, UserId};
use todogenie_common::events::CONTENT_TYPE;
use todogenie_proto::v1 as pb;
use todogenie_proto::v1::notifier_service_client::NotifierServiceClient;
use todogenie_proto::v1::task_service_client::TaskServiceClient;
use todogenie_standin::{CloudApi, StandinConfig};
use todogenie_test_kit::{channel, Bearer, TestApp, AMQP_URL};
use tonic::transport::Channel;

pub use event::TestEvent;
pub use notifier::Notifier;
pub use todogenie_test_kit::{poll, queue_depth};

// A path of its own: `broker_faults` and `traces` include this file by
// `#[path]`, from which a plain `mod` would look beside it.
#[path = "helpers/event.rs"]
mod event;
#[path = "helpers/notifier.rs"]
mod notifier;
#[path = "helpers/waits.rs"]
mod waits;

pub const VERIFY_TOKEN: &str = "test-verify-token";

/// One test's world: the stand-in, the notifier, optionally task-service,
/// and the names of everything to clean up.
pub struct Pair {
    pub standin: CloudApi,
    pub notifier: Option<Notifier>,
    pub settings: Settings,
    pub pool: PgPool,
    pub exchange: String,
    pub topology: Topology,
    pub tasks: Option<TestApp>,
    keys: JwtKeys,
    pub db_name: String,
}

/// How a test wants its pair.
pub struct Options {
    pub with_task_service: bool,
    pub standin: StandinConfig,
    pub sms_fallback: bool,
    pub max_mps: u32,
    /// RabbitMQ for the notifier, when not the test broker itself (e.g.
    /// through a `FreezableProxy`); the test's own publishes go direct.
    pub amqp_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            with_task_service: false,
            standin: StandinConfig::default(),
            sms_fallback: false,
            max_mps: 80,
            amqp_url: None,
        }
    }
}

pub async fn spawn_pair() -> Pair {
    spawn_with(Options::default()).await
}

pub async fn spawn_end_to_end() -> Pair {
    spawn_with(Options {
        with_task_service: true,
        ..Options::default()
    })
    .await
}

pub async fn spawn_with(options: Options) -> Pair {
    todogenie_test_kit::init_tracing();
    let db_name = todogenie_test_kit::unique_name("tg_ntest");
    let topology = todogenie_test_kit::topology_for(&db_name);
    let exchange = topology.exchange.clone();
    let standin = CloudApi::start(options.standin.clone())
        .await
        .expect("the stand-in starts");
    let tasks = if options.with_task_service {
        let db = db_name.replace("tg_ntest", "tg_ttest");
        Some(TestApp::start(db, topology.clone(), false).await)
    } else {
        None
    };
    let config = &options.standin;
    let mut shared = todogenie_test_kit::shared_settings(&topology);
    if let Some(url) = options.amqp_url {
        shared.amqp_url = url;
    }
    let settings = Settings {
        shared,
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("{}/{db_name}", todogenie_test_kit::postgres_base()),
        database_max_connections: 8,
        task_service_url: tasks.as_ref().map_or("http://127.0.0.1:9".into(), |t| {
            format!("http://{}", t.grpc_addr)
        }),
        whatsapp_provider: Some(ProviderKind::Meta),
        whatsapp_api_base: standin.base_url(),
        whatsapp_api_version: "v26.0".into(),
        whatsapp_phone_number_id: Some(config.phone_number_id.clone()),
        whatsapp_access_token: Some(Secret::new(config.access_token.clone())),
        whatsapp_app_secret: Some(Secret::new(config.app_secret.clone())),
        whatsapp_verify_token: Some(Secret::new(VERIFY_TOKEN)),
        whatsapp_reminder_template: config.template_name.clone(),
        whatsapp_confirm_template: config.confirm_template_name.clone(),
        whatsapp_template_language: "en_US".into(),
        whatsapp_max_mps: options.max_mps,
        twilio_api_base: standin.base_url(),
        twilio_account_sid: options
            .sms_fallback
            .then(|| config.twilio_account_sid.clone()),
        twilio_auth_token: options
            .sms_fallback
            .then(|| Secret::new(config.twilio_auth_token.clone())),
        twilio_whatsapp_from: None,
        twilio_reminder_content_sid: None,
        twilio_sms_from: options.sms_fallback.then(|| "+15005550006".to_owned()),
        public_url: Some("https://notifier.example.com".into()),
        send_lease: Duration::from_secs(4),
        provider_timeout: Duration::from_millis(700),
        retry_base: Duration::from_millis(200),
        max_attempts: 4,
        rpc_timeout: Duration::from_secs(10),
        retention: Duration::from_secs(90 * 24 * 3600),
    };
    let notifier = Notifier::start(settings.clone()).await;
    standin
        .webhooks
        .point_at(format!("http://{}/webhooks/whatsapp", notifier.http_addr));
    notifier.ready(200).await;
    let pool = PgPool::connect(&settings.database_url)
        .await
        .expect("the test's database");
    Pair {
        standin,
        notifier: Some(notifier),
        keys: JwtKeys::new(&settings.shared.jwt_secret),
        settings,
        pool,
        exchange,
        topology,
        tasks,
        db_name,
    }
}

pub type Notifiers =
    NotifierServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;
pub type Tasks =
    TaskServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;

impl Pair {
    pub fn token(&self, sub: &str, role: Role) -> String {
        self.keys.issue(
            &UserId::parse(sub).unwrap(),
            role,
            Duration::from_secs(3600),
        )
    }

    pub fn notifier(&self) -> &Notifier {
        self.notifier.as_ref().expect("the notifier is running")
    }

    pub async fn notifier_client(&self, sub: &str, role: Role) -> Notifiers {
        NotifierServiceClient::with_interceptor(
            channel(self.notifier().grpc_addr).await,
            Bearer::token(&self.token(sub, role)),
        )
    }

    pub async fn tasks_client(&self, sub: &str) -> Tasks {
        let addr = self.tasks.as_ref().expect("an end-to-end pair").grpc_addr;
        TaskServiceClient::with_interceptor(
            channel(addr).await,
            Bearer::token(&self.token(sub, Role::User)),
        )
    }

    /// Gives `user` a contact on `phone` (opted in, Berlin, English) whose
    /// number is confirmed, as a service that verified it would.
    pub async fn contact(&self, user: &str, phone: &str) -> pb::Contact {
        let mut client = self.notifier_client("ops", Role::Service).await;
        client
            .upsert_contact(pb::UpsertContactRequest {
                contact: Some(pb::Contact {
                    user_id: user.into(),
                    phone_number: phone.into(),
                    time_zone: "Europe/Berlin".into(),
                    locale: "en".into(),
                    whatsapp_opt_in: true,
                    ..pb::Contact::default()
                }),
                confirmed: true,
            })
            .await
            .expect("UpsertContact")
            .into_inner()
    }

    /// Restarts the notifier on the same database and queue.
    pub async fn restart(&mut self) {
        let notifier = Notifier::start(self.settings.clone()).await;
        self.standin
            .webhooks
            .point_at(format!("http://{}/webhooks/whatsapp", notifier.http_addr));
        self.notifier = Some(notifier);
    }

    /// Publishes a raw message to this test's exchange, as task-service would.
    pub async fn publish_raw(&self, routing_key: &str, message_id: &str, body: &[u8]) {
        self.publish_all(&[(routing_key.to_owned(), message_id.to_owned(), body.to_vec())])
            .await;
    }

    /// Publishes a task event the way task-service does.
    pub async fn publish_event(&self, event: &TestEvent) {
        self.publish_events(std::slice::from_ref(event)).await;
    }

    /// Publishes task events over one connection.
    pub async fn publish_events(&self, events: &[TestEvent]) {
        let messages: Vec<(String, String, Vec<u8>)> = events
            .iter()
            .map(|e| (e.kind.routing_key(), e.id.to_string(), e.body()))
            .collect();
        self.publish_all(&messages).await;
    }

    /// Publishes `(routing key, message id, body)`s over one connection to
    /// this test's exchange; returns once the broker confirmed them all.
    async fn publish_all(&self, messages: &[(String, String, Vec<u8>)]) {
        let connection = Connection::connect(AMQP_URL, ConnectionProperties::default())
            .await
            .expect("RabbitMQ must be running on 127.0.0.1:5672");
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .unwrap();
        let mut confirms = Vec::with_capacity(messages.len());
        for (routing_key, message_id, body) in messages {
            let properties = BasicProperties::default()
                .with_content_type(CONTENT_TYPE.into())
                .with_message_id(message_id.as_str().into())
                .with_delivery_mode(2);
            let confirm = channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    routing_key.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    body,
                    properties,
                )
                .await
                .unwrap();
            confirms.push(confirm);
        }
        for confirm in confirms {
            confirm.await.unwrap();
        }
        let _ = connection.close(200, "done".into()).await;
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        if let Some(notifier) = self.notifier.take() {
            drop(notifier);
        }
        let mut databases = vec![self.db_name.clone()];
        if let Some(tasks) = self.tasks.take() {
            databases.push(tasks.db_name.clone());
            drop(tasks);
        }
        // Let the killed notifier's connections go first.
        std::thread::sleep(Duration::from_millis(100));
        todogenie_test_kit::clean_up(databases, Some(self.topology.clone()));
    }
}

pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap(),
    }
}

/// Creates a task due at `due` as the client's user.
pub async fn task_due_at(
    tasks: &mut Tasks,
    title: &str,
    due: chrono::DateTime<chrono::Utc>,
) -> pb::Task {
    tasks
        .create_task(pb::CreateTaskRequest {
            task: Some(pb::Task {
                title: title.into(),
                due_time: Some(timestamp(due)),
                ..pb::Task::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("CreateTask")
        .into_inner()
}
