//! `spawn_app`: the real task-service on random ports with a fresh database
//! on the real PostgreSQL and its own event topology on the real RabbitMQ,
//! and generated gRPC clients that carry a token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use task_service::config::{LimitSettings, Settings};
use task_service::startup::Application;
use task_service::store::schedule;
use todogenie_common::amqp::Topology;
use todogenie_common::auth::{JwtKeys, Role, UserId};
use todogenie_proto::v1::task_service_client::TaskServiceClient;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::{Bearer, EventTap, Received};

/// How long a test waits for the service to settle or the events to come.
const SETTLE: Duration = Duration::from_secs(10);

pub type Client = TaskServiceClient<InterceptedService<Channel, Bearer>>;

pub struct TestApp {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub pool: PgPool,
    pub db_name: String,
    /// This test's own AMQP exchange (and the notifier's queue on it).
    pub exchange: String,
    pub topology: Topology,
    /// The first app of a test drops its database and topology; replicas don't.
    owns_resources: bool,
    keys: Arc<JwtKeys>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts task-service on 127.0.0.1:0 against a new database and its own
/// exchange. Fails loudly when PostgreSQL is not there: such a test cannot
/// pass by skipping.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(LimitSettings::default()).await
}

/// [`spawn_app`] with per-caller limits of the test's choosing.
pub async fn spawn_app_with(limits: LimitSettings) -> TestApp {
    let db_name = crate::unique_name("tg_test");
    let topology = crate::topology_for(&db_name);
    TestApp::start_with(db_name, topology, true, limits).await
}

impl TestApp {
    /// task-service on `db_name` and `topology`; `owns_resources`: drop
    /// them both when this app is dropped.
    pub async fn start(db_name: String, topology: Topology, owns_resources: bool) -> TestApp {
        Self::start_with(db_name, topology, owns_resources, LimitSettings::default()).await
    }

    async fn start_with(
        db_name: String,
        topology: Topology,
        owns_resources: bool,
        limits: LimitSettings,
    ) -> TestApp {
        crate::init_tracing();
        let settings = Settings {
            shared: crate::shared_settings(&topology),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            database_url: format!("{}/{db_name}", crate::postgres_base()),
            database_max_connections: 8,
            database_statement_cache: todogenie_common::db::STATEMENT_CACHE,
            rpc_timeout: Duration::from_secs(10),
            limits,
        };
        let keys = Arc::new(JwtKeys::new(&settings.shared.jwt_secret));
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
            exchange: topology.exchange.clone(),
            topology,
            owns_resources,
            keys,
            shutdown,
            server: Some(server),
        }
    }

    /// A second task-service process on the same database and exchange.
    pub async fn replica(&self) -> TestApp {
        TestApp::start(self.db_name.clone(), self.topology.clone(), false).await
    }

    /// Waits until /readyz answers 200 (database and broker connected).
    pub async fn ready(&self) {
        let url = format!("http://{}/readyz", self.http_addr);
        crate::wait_for_status(&url, 200, Duration::from_secs(10)).await;
    }

    pub fn token(&self, sub: &str, role: Role) -> String {
        self.keys.issue(
            &UserId::parse(sub).unwrap(),
            role,
            Duration::from_secs(3600),
        )
    }

    pub async fn channel(&self) -> Channel {
        crate::channel(self.grpc_addr).await
    }

    /// A client whose requests carry `raw` verbatim as the authorization value.
    pub async fn client_with_authorization(&self, raw: Option<&str>) -> Client {
        TaskServiceClient::with_interceptor(self.channel().await, Bearer::raw(raw))
    }

    pub async fn client(&self, sub: &str, role: Role) -> Client {
        TaskServiceClient::with_interceptor(
            self.channel().await,
            Bearer::token(&self.token(sub, role)),
        )
    }

    pub async fn user(&self, sub: &str) -> Client {
        self.client(sub, Role::User).await
    }

    /// Starts recording this test's events (before the calls that make them).
    pub async fn tap(&self) -> EventTap {
        EventTap::start(&self.exchange).await
    }

    /// Waits until nothing more can be published of what has happened so
    /// far, then until `tap` has taken all of it. Nothing more: no fire time
    /// and no recurring task's due time has passed unhandled (the scheduler
    /// takes one and writes its events in one transaction), and the outbox
    /// is empty (the relay deletes an event only once the broker confirmed
    /// it, by when it is in the tap's queue). Unlike a quiet period, this
    /// shows that an extra event cannot still be on its way.
    pub async fn settled(&self, tap: &EventTap) {
        crate::poll(SETTLE, "nothing due and the outbox empty", || async {
            // The scheduler's own look at what is due (zero: something is),
            // then the outbox: in that order, an event the scheduler writes
            // in between is still in the outbox for the second look.
            let wake = schedule::next_wake(&self.pool).await.unwrap();
            if wake.is_some_and(|until| until.is_zero()) {
                return false;
            }
            sqlx::query_scalar::<_, bool>("SELECT NOT EXISTS (SELECT 1 FROM outbox)")
                .fetch_one(&self.pool)
                .await
                .unwrap()
        })
        .await;
        tap.drain(SETTLE).await;
    }

    /// Waits for `n` events at `tap`, then until no more can come
    /// ([`Self::settled`]), and asserts that exactly `n` came.
    pub async fn exactly(&self, tap: &EventTap, n: usize, what: &str) -> Vec<Received> {
        tap.wait_until(SETTLE, what, |all| all.len() >= n).await;
        self.settled(tap).await;
        let all = tap.all();
        assert_eq!(all.len(), n, "{what}: {:#?}", crate::tap::summary(&all));
        all
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
    /// Stops the server and drops the test's database and topology.
    fn drop(&mut self) {
        self.shutdown.cancel();
        if self.owns_resources {
            crate::clean_up(vec![self.db_name.clone()], Some(self.topology.clone()));
        }
    }
}
