//! Serving one service the way both do: its gRPC API behind auth beside
//! health and reflection (v1 and v1alpha) on one listener, the HTTP listener
//! (`/metrics`, `/healthz`, `/readyz`, webhooks) on another, and a graceful
//! stop inside one deadline for everything: in-flight RPCs, then the
//! background workers.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic_health::ServingStatus;

/// Largest request either API decodes: a task at its limits is well under
/// 200 KiB.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// From the shutdown signal to the process's end, at most this long: within
/// the 10 s an orchestrator grants before SIGKILL.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(9);

/// A service's two listeners, bound before it runs (port 0 picks a free
/// port, for tests).
pub struct Listeners {
    grpc: TcpListener,
    http: TcpListener,
}

impl Listeners {
    /// Binds both; `grpc_var` and `http_var` name the settings in errors.
    pub async fn bind(grpc: (SocketAddr, &str), http: (SocketAddr, &str)) -> anyhow::Result<Self> {
        Ok(Self {
            grpc: bind(grpc).await?,
            http: bind(http).await?,
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .expect("a bound listener has an address")
    }
}

async fn bind((addr, var): (SocketAddr, &str)) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {var} {addr}"))
}

/// A service connected to its database and bound to its ports, not yet
/// serving; each service's `Application` derefs to it.
pub struct Built<S> {
    pub settings: S,
    pub pool: sqlx::PgPool,
    pub listeners: Listeners,
}

impl<S> Built<S> {
    /// Binds the two listeners (`(address, setting)` each; the setting names
    /// the address in errors).
    pub async fn bind(
        settings: S,
        pool: sqlx::PgPool,
        grpc: (SocketAddr, &str),
        http: (SocketAddr, &str),
    ) -> anyhow::Result<Self> {
        let listeners = Listeners::bind(grpc, http).await?;
        Ok(Self {
            settings,
            pool,
            listeners,
        })
    }

    pub fn into_parts(self) -> (S, sqlx::PgPool, Listeners) {
        (self.settings, self.pool, self.listeners)
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.listeners.grpc_addr()
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.listeners.http_addr()
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}

/// What to serve.
pub struct Service {
    /// The process, for logs: `task-service`.
    pub program: &'static str,
    /// The gRPC service's full name, as health reports it.
    pub name: &'static str,
    /// The API, already behind its interceptor.
    pub api: Routes,
    /// The HTTP listener's routes.
    pub http: axum::Router,
    /// Longest time one RPC may take before it is DEADLINE_EXCEEDED.
    pub rpc_timeout: Duration,
    /// Web pages allowed to call the gRPC port (gRPC-Web).
    pub cors: crate::browser::CorsOrigins,
}

/// Concurrent RPCs (streams) on one HTTP/2 connection.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 512;

/// Serves until `shutdown` is cancelled; then health turns NOT_SERVING, the
/// listeners close, in-flight RPCs finish and `workers` (which watch the
/// same token) end, all within [`SHUTDOWN_DEADLINE`].
pub async fn run(
    listeners: Listeners,
    service: Service,
    workers: Vec<JoinHandle<()>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(service.name, ServingStatus::Serving)
        .await;
    // Reflection lists what this port serves, and nothing else: both
    // services' API is one descriptor set, and listing all of it made
    // `grpcurl list` on task-service's port name NotifierService too (whose
    // calls there are UNIMPLEMENTED). Every file stays registered, so every
    // symbol of both APIs can still be described.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(todogenie_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // Both reflection versions in both, so that each lists and
            // describes the other too.
            .include_reflection_service(false)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
            .with_service_name(service.name)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection")
    };
    // Health and reflection take messages of our size too (tonic's default
    // is 4 MiB): what `request_budget` counts per body assumes it.
    let health_service = health_service.max_decoding_message_size(MAX_REQUEST_BYTES);
    let reflection_v1 = reflection()
        .build_v1()
        .context("reflection v1")?
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("reflection v1alpha")?
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let (grpc_addr, http_addr) = (listeners.grpc_addr(), listeners.http_addr());

    let budget = crate::request_budget::RequestBudget::new(
        crate::request_budget::MAX_REQUEST_BYTES_IN_FLIGHT,
    );
    let grpc = Server::builder()
        .timeout(service.rpc_timeout)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        // HTTP/2 tells each client how many streams it may open at once
        // (unset, h2 allows any number); beyond this many RPCs in flight on
        // one connection, answer RESOURCE_EXHAUSTED at once instead of
        // queueing without bound.
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .concurrency_limit_per_connection(MAX_STREAMS_PER_CONNECTION as usize)
        .load_shed(true)
        // Browsers: gRPC-Web over HTTP/1.1 or HTTP/2, behind CORS for the
        // configured origins; plain gRPC passes through both untouched.
        .accept_http1(true)
        // One span per RPC, continuing the caller's `traceparent`.
        .layer(
            tower_http::trace::TraceLayer::new_for_grpc()
                .make_span_with(crate::telemetry::request_span::<tonic::body::Body>)
                .on_request(())
                .on_response(())
                .on_failure(()),
        )
        .layer(crate::browser::cors(&service.cors))
        .layer(tonic_web::GrpcWebLayer::new())
        // Every request body's bytes, gRPC-Web's decoded, from one budget.
        .layer(tower::util::MapRequestLayer::new(move |request| {
            budget.count(request)
        }))
        .add_routes(service.api)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY a response that spans segments waits for
            // the client's delayed ACK: 40 ms added to every ListTasks.
            crate::grpc_incoming::limited(
                TcpIncoming::from(listeners.grpc).with_nodelay(Some(true)),
                crate::grpc_incoming::MAX_GRPC_CONNECTIONS,
                crate::grpc_incoming::FIRST_BYTES_WITHIN,
            ),
            shutdown.clone().cancelled_owned(),
        );
    let http = crate::http_server::serve(listeners.http, service.http, shutdown.clone());
    let upkeep = tokio::spawn(crate::metrics::run_upkeep(shutdown.clone()));

    tracing::info!(grpc = %grpc_addr, http = %http_addr, "{} serving", service.program);
    let serve = async {
        let (grpc, http) = tokio::join!(grpc, http);
        grpc.context("gRPC server failed")?;
        http.context("HTTP server failed")?;
        anyhow::Ok(())
    };
    tokio::pin!(serve);
    // The deadline starts with the shutdown, and bounds the whole stop.
    let deadline = async {
        shutdown.cancelled().await;
        health
            .set_service_status(service.name, ServingStatus::NotServing)
            .await;
        tokio::time::Instant::now() + SHUTDOWN_DEADLINE
    };
    tokio::pin!(deadline);
    let mut stop_by = None;
    let result = loop {
        tokio::select! {
            result = &mut serve => break result,
            at = &mut deadline, if stop_by.is_none() => stop_by = Some(at),
            () = sleep_until(stop_by) => {
                tracing::warn!("in-flight RPCs did not finish within the shutdown deadline");
                break Ok(());
            }
        }
    };
    // The servers may have failed on their own: stop the workers too.
    shutdown.cancel();
    let stop_by = stop_by.unwrap_or_else(|| tokio::time::Instant::now() + SHUTDOWN_DEADLINE);
    let background = futures::future::join_all(workers.into_iter().chain([upkeep]));
    if tokio::time::timeout_at(stop_by, background).await.is_err() {
        tracing::warn!("background workers did not stop within the shutdown deadline");
    }
    tracing::info!("{} stopped", service.program);
    result
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
