//! Prometheus metrics: one recorder per process, RPC counts and latencies by
//! method and code, and the gauges `/metrics` refreshes when scraped.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Instant;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets for RPCs, in seconds: 0.5 ms to 5 s.
const RPC_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

/// The process-wide recorder's handle, installed on first use (tests start
/// several services in one process; they share it).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full("rpc_duration_seconds".into()), &RPC_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then that one counts.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Runs one RPC body and records its outcome and latency.
pub async fn observe<T>(
    method: &'static str,
    body: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let started = Instant::now();
    let result = body.await;
    let code = match &result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    };
    metrics::counter!("rpc_requests_total", "method" => method, "code" => format!("{code:?}"))
        .increment(1);
    metrics::histogram!("rpc_duration_seconds", "method" => method)
        .record(started.elapsed().as_secs_f64());
    result
}

/// Requests refused before any handler ran (the auth interceptor).
pub fn count_unauthenticated() {
    metrics::counter!("rpc_requests_total", "method" => "unknown", "code" => "Unauthenticated")
        .increment(1);
}

/// Connection pool figures, refreshed on every scrape.
pub fn record_pool(pool: &sqlx::PgPool) {
    metrics::gauge!("db_pool_connections").set(f64::from(pool.size()));
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("db_pool_idle_connections").set(pool.num_idle() as f64);
}

/// The Prometheus exporter folds histogram samples on upkeep; every 5 s until
/// `shutdown`.
pub async fn run_upkeep(shutdown: CancellationToken) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => handle().run_upkeep(),
        }
    }
}
