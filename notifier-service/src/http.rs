//! The HTTP listener: `/metrics` (Prometheus text), `/healthz` (the process
//! runs), `/readyz` (database and broker reachable, and the provider takes
//! our credentials), and the webhooks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use sqlx::PgPool;

use crate::delivery::CredentialState;
use crate::webhooks::{self, WebhookState};

#[derive(Clone)]
pub(crate) struct HttpState {
    pub pool: PgPool,
    pub broker_up: Arc<AtomicBool>,
    pub credentials: Arc<CredentialState>,
}

pub(crate) fn router(state: HttpState, webhooks: WebhookState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
        .merge(webhooks::router(webhooks))
}

async fn metrics(State(state): State<HttpState>) -> String {
    todogenie_common::metrics::record_pool(&state.pool);
    metrics::gauge!("provider_credentials_refused")
        .set(f64::from(u8::from(state.credentials.refused())));
    match crate::store::notifications::retry_depth(&state.pool).await {
        #[allow(clippy::cast_precision_loss)]
        Ok(depth) => metrics::gauge!("retry_queue_depth").set(depth as f64),
        Err(e) => tracing::warn!(error = %e, "cannot measure the retry queue"),
    }
    todogenie_common::metrics::handle().render()
}

async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    if !crate::store::ping(&state.pool).await {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    } else if !state.broker_up.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "broker unreachable\n")
    } else if state.credentials.refused() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the WhatsApp provider refuses our credentials\n",
        )
    } else {
        (StatusCode::OK, "ready\n")
    }
}
