//! The HTTP listener: `/metrics` (Prometheus text), `/healthz` (the process
//! runs) and `/readyz` (it can do work: the database answers).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use sqlx::PgPool;

#[derive(Clone)]
pub struct HttpState {
    pub pool: PgPool,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> String {
    crate::metrics::record_pool(&state.pool);
    crate::metrics::handle().render()
}

async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    if crate::store::ping(&state.pool).await {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    }
}
