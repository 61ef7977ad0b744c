//! What both services' tests share (never part of a service): the real
//! PostgreSQL and RabbitMQ they run against, a test's own database and
//! event topology and their clean-up, tokens, polling with a deadline,
//! broker faults, an event tap, and task-service started on port 0.

mod frozen;
pub mod grpc_web;
mod reflection;
mod tap;
mod task_app;

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use sqlx::{Connection as _, PgConnection};
use todogenie_common::amqp::Topology;
use todogenie_common::auth::JwtSecret;
use todogenie_common::settings::SharedSettings;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::{Request, Status};

pub use frozen::FreezableProxy;
pub use reflection::listed_services;
pub use tap::{EventTap, Received};
pub use task_app::{spawn_app, spawn_app_with, Client, TestApp};

pub const JWT_SECRET: &str = "test-secret-of-more-than-16-bytes";
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The server part of the PostgreSQL URL; each test adds its own database.
/// `TEST_POSTGRES_URL` points the tests elsewhere.
pub fn postgres_base() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A new name for a test's database (and, after `test.`, its exchange).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A test's own exchange and queue, named after its database.
pub fn topology_for(db_name: &str) -> Topology {
    let exchange = format!("test.{db_name}");
    Topology::new(exchange.clone(), format!("{exchange}.notifier"))
}

/// The settings both services share, for a test's own topology.
pub fn shared_settings(topology: &Topology) -> SharedSettings {
    SharedSettings {
        amqp_url: AMQP_URL.into(),
        amqp_exchange: topology.exchange.clone(),
        amqp_queue: topology.queue.clone(),
        jwt_secret: JwtSecret::new(JWT_SECRET.into()).expect("the test secret is long enough"),
        log_filter: "info".into(),
        log_format: "text".into(),
        cors_allowed_origins: todogenie_common::browser::CorsOrigins::parse(ALLOWED_ORIGIN)
            .expect("a valid origin"),
    }
}

/// The one web origin the services under test let call them.
pub const ALLOWED_ORIGIN: &str = "http://allowed.example:5173";

/// Logs of the services under test, with `TEST_LOG=debug` (once per binary).
pub fn init_tracing() {
    static TRACING: std::sync::Once = std::sync::Once::new();
    TRACING.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            std::mem::forget(todogenie_common::telemetry::init(&filter, "text", "tests"));
        }
    });
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

/// Waits until `url` answers `expect` (a service's `/readyz`).
pub async fn wait_for_status(url: &str, expect: u16, within: Duration) {
    poll(within, &format!("{url} {expect}"), || async {
        reqwest::get(url).await.ok().map(|r| r.status().as_u16()) == Some(expect)
    })
    .await;
}

/// Adds `authorization: <value>` to every request (or nothing).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// `Bearer <token>`.
    pub fn token(token: &str) -> Self {
        Self::raw(Some(&format!("Bearer {token}")))
    }

    /// `raw` verbatim as the authorization value.
    pub fn raw(raw: Option<&str>) -> Self {
        Self(raw.map(|r| r.parse().expect("ASCII metadata")))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel to a service under test.
pub async fn channel(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await
        .expect("connect to the service under test")
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

/// Drops a test's databases and deletes its topology (both services'
/// declarations of it), on a runtime of its own.
pub fn clean_up(databases: Vec<String>, topology: Option<Topology>) {
    let url = format!("{}/postgres", postgres_base());
    block_on_own_runtime(async move {
        if let Ok(mut conn) = PgConnection::connect(&url).await {
            for db in databases {
                let sql = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
                let _ = sqlx::query(&sql).execute(&mut conn).await;
            }
        }
        if let Some(topology) = topology {
            delete_topology(AMQP_URL, &topology).await;
        }
    });
}

/// Deletes a topology's queues (and their messages) and exchanges, both
/// services' declarations of it; what is already gone is no error.
pub async fn delete_topology(amqp_url: &str, topology: &Topology) {
    let Ok(connection) = Connection::connect(amqp_url, ConnectionProperties::default()).await
    else {
        return;
    };
    if let Ok(channel) = connection.create_channel().await {
        topology.delete(&channel).await;
    }
    let _ = connection.close(200, "cleaned up".into()).await;
}

/// How many messages wait in a quorum queue (the notifier's, its dead
/// letters).
pub async fn queue_depth(queue: &str) -> u32 {
    let connection = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ must be running on 127.0.0.1:5672");
    let channel = connection.create_channel().await.unwrap();
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
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

/// `rabbitmqctl …`, which acts on the whole broker: only for the broker
/// fault binaries, which run alone.
pub async fn rabbitmqctl(args: &[&str]) {
    let output = tokio::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .await
        .expect("rabbitmqctl must be installed (it comes with rabbitmq-server)");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Cuts every client's connection to the broker.
pub async fn close_all_connections() {
    rabbitmqctl(&[
        "close_all_connections",
        "test: closing every connection mid-run",
    ])
    .await;
}
