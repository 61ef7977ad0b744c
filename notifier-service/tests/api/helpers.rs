//! `spawn_pair`: the real notifier-service (and, for end-to-end tests, the
//! real task-service) on random ports, each with a fresh database on the real
//! PostgreSQL, this test's own exchange and queue on the real RabbitMQ, and
//! the WhatsApp Cloud API stand-in in between.

use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use notifier_service::config::{ProviderKind, Secret, Settings};
use notifier_service::standin::{CloudApi, StandinConfig};
use notifier_service::startup::Application;
use sqlx::{Connection as _, PgConnection, PgPool};
use todogenie_common::auth::{JwtKeys, JwtSecret, Role, UserId};
use todogenie_proto::v1 as pb;
use todogenie_proto::v1::notifier_service_client::NotifierServiceClient;
use todogenie_proto::v1::task_service_client::TaskServiceClient;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::Request;

pub const JWT_SECRET: &str = "test-secret-of-more-than-16-bytes";
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const VERIFY_TOKEN: &str = "test-verify-token";

fn postgres_base() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

static TRACING: Once = Once::new();

fn init_tracing() {
    TRACING.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            todogenie_common::telemetry::init(&filter, "text");
        }
    });
}

/// A notifier-service running on its own runtime and thread, so a test can
/// stop it gracefully or kill it outright (every task dropped mid-flight).
pub struct Notifier {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    shutdown: CancellationToken,
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Notifier {
    pub async fn start(settings: Settings) -> Notifier {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime starts");
            let result = runtime.block_on(async move {
                let app = Application::build(settings)
                    .await
                    .expect("notifier-service must start: are PostgreSQL and RabbitMQ running?");
                let _ = ready_tx.send((app.grpc_addr(), app.http_addr()));
                tokio::select! {
                    result = app.run_until_stopped(token) => result,
                    _ = kill_rx => Ok(()),
                }
            });
            // A kill: whatever the runtime still runs is dropped, not finished.
            runtime.shutdown_background();
            result
        });
        let (grpc_addr, http_addr) = ready_rx.await.expect("notifier-service started");
        Notifier {
            grpc_addr,
            http_addr,
            shutdown,
            kill: Some(kill_tx),
            thread: Some(thread),
        }
    }

    /// SIGTERM: finish in-flight work and stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let thread = self.thread.take().expect("running");
        tokio::task::spawn_blocking(move || thread.join().expect("no panic"))
            .await
            .expect("joined")
    }

    /// SIGKILL: drop everything at once.
    pub async fn kill(mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        let thread = self.thread.take().expect("running");
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }

    pub async fn ready(&self, expect: u16) {
        let url = format!("http://{}/readyz", self.http_addr);
        poll(
            Duration::from_secs(15),
            &format!("/readyz {expect}"),
            || async { reqwest::get(&url).await.ok().map(|r| r.status().as_u16()) == Some(expect) },
        )
        .await;
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

/// Polls `check` every 20 ms until it holds, or panics after `within`.
pub async fn poll<F, Fut>(within: Duration, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One test's world: the stand-in, the notifier, optionally task-service,
/// and the names of everything to clean up.
pub struct Pair {
    pub standin: CloudApi,
    pub notifier: Option<Notifier>,
    pub settings: Settings,
    pub pool: PgPool,
    pub exchange: String,
    pub tasks: Option<TaskService>,
    keys: JwtKeys,
    db_name: String,
}

pub struct TaskService {
    pub grpc_addr: SocketAddr,
    db_name: String,
    shutdown: CancellationToken,
}

/// How a test wants its pair.
pub struct Options {
    pub with_task_service: bool,
    pub standin: StandinConfig,
    pub sms_fallback: bool,
    pub max_mps: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            with_task_service: false,
            standin: StandinConfig::default(),
            sms_fallback: false,
            max_mps: 80,
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
    init_tracing();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let db_name = format!("tg_ntest_{id}");
    let exchange = format!("test.{db_name}");
    let standin = CloudApi::start(options.standin.clone())
        .await
        .expect("the stand-in starts");
    let tasks = if options.with_task_service {
        Some(start_task_service(&format!("tg_ttest_{id}"), &exchange).await)
    } else {
        None
    };
    let config = &options.standin;
    let settings = Settings {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("{}/{db_name}", postgres_base()),
        database_max_connections: 8,
        amqp_url: AMQP_URL.into(),
        amqp_exchange: exchange.clone(),
        amqp_queue: format!("{exchange}.notifier"),
        jwt_secret: JwtSecret::new(JWT_SECRET.into()).unwrap(),
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
        send_lease: Duration::from_secs(2),
        provider_timeout: Duration::from_millis(700),
        retry_base: Duration::from_millis(200),
        max_attempts: 4,
        log_filter: "info".into(),
        log_format: "text".into(),
        rpc_timeout: Duration::from_secs(10),
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
        keys: JwtKeys::new(&settings.jwt_secret),
        settings,
        pool,
        exchange,
        tasks,
        db_name,
    }
}

async fn start_task_service(db_name: &str, exchange: &str) -> TaskService {
    let settings = task_service::config::Settings {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("{}/{db_name}", postgres_base()),
        database_max_connections: 8,
        amqp_url: AMQP_URL.into(),
        amqp_exchange: exchange.to_owned(),
        jwt_secret: JwtSecret::new(JWT_SECRET.into()).unwrap(),
        log_filter: "info".into(),
        log_format: "text".into(),
        rpc_timeout: Duration::from_secs(10),
    };
    let app = task_service::startup::Application::build(settings)
        .await
        .expect("task-service must start: is PostgreSQL running?");
    let grpc_addr = app.grpc_addr();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TaskService {
        grpc_addr,
        db_name: db_name.to_owned(),
        shutdown,
    }
}

pub type Notifiers =
    NotifierServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;
pub type Tasks =
    TaskServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;

#[derive(Clone)]
pub struct Bearer(String);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.0).parse().unwrap(),
        );
        Ok(request)
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

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
            Bearer(self.token(sub, role)),
        )
    }

    pub async fn tasks_client(&self, sub: &str) -> Tasks {
        let addr = self.tasks.as_ref().expect("an end-to-end pair").grpc_addr;
        TaskServiceClient::with_interceptor(
            channel(addr).await,
            Bearer(self.token(sub, Role::User)),
        )
    }

    /// Gives `user` a contact on `phone` (opted in, UTC, English).
    pub async fn contact(&self, user: &str, phone: &str) -> pb::Contact {
        let mut client = self.notifier_client(user, Role::User).await;
        client
            .upsert_contact(pb::UpsertContactRequest {
                contact: Some(pb::Contact {
                    phone_number: phone.into(),
                    time_zone: "Europe/Berlin".into(),
                    locale: "en".into(),
                    whatsapp_opt_in: true,
                    ..pb::Contact::default()
                }),
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

    /// The notification rows of a task, read straight from the database.
    pub async fn notifications_of(
        &self,
        task_id: uuid::Uuid,
    ) -> Vec<(String, i32, Option<String>, String)> {
        sqlx::query_as(
            "SELECT status, attempts, last_error, channel FROM notifications WHERE task_id = $1",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// Waits until the task's one notification has `status`; returns it.
    pub async fn wait_status(
        &self,
        task_id: uuid::Uuid,
        status: &str,
        within: Duration,
    ) -> (String, i32, Option<String>, String) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let rows = self.notifications_of(task_id).await;
            if let [row] = rows.as_slice() {
                if row.0 == status {
                    return row.clone();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "notification of {task_id} did not become {status}: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Publishes a raw message to this test's exchange, as task-service would.
    pub async fn publish_raw(&self, routing_key: &str, message_id: &str, body: &[u8]) {
        let connection = Connection::connect(AMQP_URL, ConnectionProperties::default())
            .await
            .expect("RabbitMQ must be running on 127.0.0.1:5672");
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .unwrap();
        let properties = BasicProperties::default()
            .with_content_type("application/cloudevents+json".into())
            .with_message_id(message_id.into())
            .with_delivery_mode(2);
        channel
            .basic_publish(
                self.exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                properties,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let _ = connection.close(200, "done".into()).await;
    }

    /// Publishes a task event the way task-service does.
    pub async fn publish_event(&self, event: &TestEvent) {
        let body = event.body();
        self.publish_raw(
            &format!("task.{}", event.kind),
            &event.id.to_string(),
            body.as_bytes(),
        )
        .await;
    }
}

/// A task event as task-service publishes it.
#[derive(Debug, Clone)]
pub struct TestEvent {
    pub id: uuid::Uuid,
    pub kind: &'static str,
    pub task_id: uuid::Uuid,
    pub owner: String,
    pub title: String,
    pub state: &'static str,
    pub update_time: chrono::DateTime<chrono::Utc>,
    pub reminder_time: chrono::DateTime<chrono::Utc>,
}

impl TestEvent {
    /// A `task.due` for a new task of `owner`, its reminder firing now.
    pub fn due(owner: &str, title: &str) -> TestEvent {
        let now = chrono::Utc::now();
        TestEvent {
            id: uuid::Uuid::now_v7(),
            kind: "due",
            task_id: uuid::Uuid::now_v7(),
            owner: owner.into(),
            title: title.into(),
            state: "TASK_STATE_PENDING",
            update_time: now - chrono::Duration::minutes(5),
            reminder_time: now,
        }
    }

    /// Another event about the same task.
    pub fn then(&self, kind: &'static str, state: &'static str) -> TestEvent {
        TestEvent {
            id: uuid::Uuid::now_v7(),
            kind,
            state,
            update_time: chrono::Utc::now(),
            ..self.clone()
        }
    }

    pub fn body(&self) -> String {
        let rfc = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        };
        let mut data = serde_json::json!({ "task": {
            "id": self.task_id.to_string(), "owner": self.owner, "title": self.title,
            "description": "", "state": self.state, "priority": "PRIORITY_UNSPECIFIED", "tags": [],
            "dueTime": rfc(self.reminder_time), "timeZone": "UTC", "recurrence": "", "reminders": [],
            "seriesId": "", "createTime": rfc(self.update_time), "updateTime": rfc(self.update_time),
            "etag": "1",
        }});
        if self.kind == "due" {
            data["reminderTime"] = serde_json::json!(rfc(self.reminder_time));
        }
        serde_json::json!({
            "specversion": "1.0", "id": self.id.to_string(),
            "type": format!("todogenie.task.{}.v1", self.kind), "source": "/task-service",
            "subject": self.task_id.to_string(), "time": rfc(chrono::Utc::now()),
            "datacontenttype": "application/json", "data": data,
        })
        .to_string()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        if let Some(tasks) = &self.tasks {
            tasks.shutdown.cancel();
        }
        if let Some(notifier) = self.notifier.take() {
            drop(notifier);
        }
        let mut databases = vec![self.db_name.clone()];
        if let Some(tasks) = &self.tasks {
            databases.push(tasks.db_name.clone());
        }
        let exchange = self.exchange.clone();
        let queue = self.settings.amqp_queue.clone();
        let url = format!("{}/postgres", postgres_base());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime starts")
                .block_on(async move {
                    // Let the killed notifier's connections go first.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if let Ok(mut conn) = PgConnection::connect(&url).await {
                        for db in databases {
                            let sql = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
                            let _ = sqlx::query(&sql).execute(&mut conn).await;
                        }
                    }
                    if let Ok(connection) =
                        Connection::connect(AMQP_URL, ConnectionProperties::default()).await
                    {
                        if let Ok(channel) = connection.create_channel().await {
                            for q in [queue.clone(), format!("{queue}.dead")] {
                                let _ = channel
                                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                                    .await;
                            }
                            for x in [exchange.clone(), format!("{exchange}.dlx")] {
                                let _ = channel
                                    .exchange_delete(
                                        x.as_str().into(),
                                        ExchangeDeleteOptions::default(),
                                    )
                                    .await;
                            }
                        }
                    }
                });
        })
        .join();
    }
}

/// Counts the messages in a queue (for the dead-letter queue).
pub async fn queue_depth(queue: &str) -> u32 {
    let connection = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    let declared = channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            arguments,
        )
        .await
        .unwrap();
    let _ = connection.close(200, "done".into()).await;
    declared.message_count()
}
