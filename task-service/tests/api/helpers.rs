//! `spawn_app`: the real task-service on random ports with a fresh database
//! on the real PostgreSQL, and generated gRPC clients that carry a token.

use std::net::SocketAddr;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};
use task_service::auth::{JwtKeys, JwtSecret, Role};
use task_service::config::Settings;
use task_service::domain::UserId;
use task_service::startup::Application;
use todogenie_proto::v1 as pb;
use todogenie_proto::v1::task_service_client::TaskServiceClient;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Request, Status};

pub const JWT_SECRET: &str = "test-secret-of-more-than-16-bytes";

/// The server part of the PostgreSQL URL; each test adds its own database.
fn postgres_base() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

static TRACING: Once = Once::new();

pub type Client = TaskServiceClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to every request (or nothing).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub struct TestApp {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub pool: PgPool,
    pub db_name: String,
    /// This test's own AMQP exchange.
    pub exchange: String,
    /// The first app of a test drops its database and exchange; replicas don't.
    owns_resources: bool,
    keys: Arc<JwtKeys>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts task-service on 127.0.0.1:0 against a new database and its own
/// exchange. Fails loudly when PostgreSQL is not there: such a test cannot
/// pass by skipping.
pub async fn spawn_app() -> TestApp {
    let db_name = format!("tg_test_{}", uuid::Uuid::new_v4().simple());
    start(db_name, true).await
}

async fn start(db_name: String, owns_resources: bool) -> TestApp {
    TRACING.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            task_service::telemetry::init(&filter, "text");
        }
    });
    let settings = Settings {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("{}/{db_name}", postgres_base()),
        database_max_connections: 8,
        amqp_url: crate::tap::AMQP_URL.into(),
        amqp_exchange: format!("test.{db_name}"),
        jwt_secret: JwtSecret::new(JWT_SECRET.into()).unwrap(),
        log_filter: "info".into(),
        log_format: "text".into(),
        rpc_timeout: Duration::from_secs(10),
    };
    let keys = Arc::new(JwtKeys::new(&settings.jwt_secret));
    let exchange = settings.amqp_exchange.clone();
    let app = Application::build(settings)
        .await
        .expect("task-service must start: is PostgreSQL running on 127.0.0.1:5432?");
    let grpc_addr = app.grpc_addr();
    let http_addr = app.http_addr();
    let pool = app.pool().clone();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        grpc_addr,
        http_addr,
        pool,
        db_name,
        exchange,
        owns_resources,
        keys,
        shutdown,
        server: Some(server),
    }
}

impl TestApp {
    /// A second task-service process on the same database and exchange.
    pub async fn replica(&self) -> TestApp {
        start(self.db_name.clone(), false).await
    }

    /// Waits until /readyz answers 200 (database and broker connected).
    pub async fn ready(&self) {
        let url = format!("http://{}/readyz", self.http_addr);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(response) = reqwest::get(&url).await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "task-service did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn token(&self, sub: &str, role: Role) -> String {
        self.keys.issue(
            &UserId::parse(sub).unwrap(),
            role,
            Duration::from_secs(3600),
        )
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc_addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to task-service")
    }

    /// A client whose requests carry `raw` verbatim as the authorization value.
    pub async fn client_with_authorization(&self, raw: Option<&str>) -> Client {
        let value = raw.map(|r| r.parse().expect("ASCII metadata"));
        TaskServiceClient::with_interceptor(self.channel().await, Bearer(value))
    }

    pub async fn client(&self, sub: &str, role: Role) -> Client {
        let token = self.token(sub, role);
        self.client_with_authorization(Some(&format!("Bearer {token}")))
            .await
    }

    pub async fn user(&self, sub: &str) -> Client {
        self.client(sub, Role::User).await
    }

    /// Starts recording this test's events (before the calls that make them).
    pub async fn tap(&self) -> crate::tap::EventTap {
        crate::tap::EventTap::start(&self.exchange).await
    }

    /// Stops the server; the database stays until the test ends.
    pub async fn stop_keeping_database(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task does not panic")
                .expect("clean stop");
        }
    }

    /// Stops the server and waits for it, as SIGTERM would.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.server
            .take()
            .expect("running")
            .await
            .expect("server task does not panic")
    }
}

impl Drop for TestApp {
    /// Stops the server and drops the test's database.
    fn drop(&mut self) {
        self.shutdown.cancel();
        if !self.owns_resources {
            return;
        }
        let url = format!("{}/postgres", postgres_base());
        let db_name = self.db_name.clone();
        let exchange = self.exchange.clone();
        block_on_own_runtime(async move {
            if let Ok(mut conn) = PgConnection::connect(&url).await {
                let sql = format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)");
                let _ = sqlx::query(&sql).execute(&mut conn).await;
            }
            let amqp = lapin::Connection::connect(
                crate::tap::AMQP_URL,
                lapin::ConnectionProperties::default(),
            );
            if let Ok(connection) = amqp.await {
                if let Ok(channel) = connection.create_channel().await {
                    let options = lapin::options::ExchangeDeleteOptions::default();
                    let _ = channel
                        .exchange_delete(exchange.as_str().into(), options)
                        .await;
                }
            }
        });
    }
}

/// Runs `cleanup` to completion on a thread with its own runtime: a test's
/// runtime may be shutting down when its resources are dropped.
pub fn block_on_own_runtime(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime starts")
            .block_on(cleanup);
    })
    .join();
}

/// A task with just a title.
pub fn titled(title: &str) -> pb::Task {
    pb::Task {
        title: title.into(),
        ..pb::Task::default()
    }
}

pub fn create(task: pb::Task) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        task: Some(task),
        request_id: String::new(),
    }
}

pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// The fields named in a status's google.rpc.BadRequest detail.
pub fn bad_fields(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("INVALID_ARGUMENT carries a BadRequest detail")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}
