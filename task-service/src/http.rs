//! The HTTP listener: `/metrics` (Prometheus text), `/healthz` (the process
//! runs) and `/readyz` (it can do work: database and broker reachable).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use sqlx::PgPool;

#[derive(Clone)]
pub(crate) struct HttpState {
    pub pool: PgPool,
    /// Set by the outbox relay while it holds a broker connection.
    pub broker_up: Arc<AtomicBool>,
}

pub(crate) fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> String {
    crate::metrics::record_pool(&state.pool);
    match crate::store::outbox::backlog(&state.pool).await {
        Ok((count, oldest)) => {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("outbox_backlog").set(count as f64);
            metrics::gauge!("outbox_oldest_age_seconds").set(oldest);
        }
        Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot measure the outbox"),
    }
    crate::metrics::handle().render()
}

/// 200 only while the database answers and the broker is connected.
async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    if !crate::store::ping(&state.pool).await {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    } else if !state.broker_up.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "broker unreachable\n")
    } else {
        (StatusCode::OK, "ready\n")
    }
}
