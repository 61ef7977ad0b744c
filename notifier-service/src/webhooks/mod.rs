//! Where webhooks enter: Meta's (`/webhooks/whatsapp`) and Twilio's
//! (`/webhooks/twilio`). Both check a signature over the raw request first,
//! record what they were told (deduplicated by the provider's ids) and answer
//! at once; `crate::inbound` acts on it.

pub(crate) mod twilio;
pub(crate) mod whatsapp;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::config::Secret;
use crate::domain::ReportKind;
use crate::store::inbound::{self, Report};

#[derive(Clone)]
pub(crate) struct WebhookState {
    pub pool: PgPool,
    pub app_secret: Option<Secret>,
    pub verify_token: Option<Secret>,
    pub twilio_auth_token: Option<Secret>,
    pub public_url: Option<String>,
    /// Wakes the inbound worker.
    pub inbound: Arc<Notify>,
}

pub(crate) fn router(state: WebhookState) -> Router {
    Router::new()
        .route(
            "/webhooks/whatsapp",
            get(whatsapp::verify).post(whatsapp::receive),
        )
        .route("/webhooks/twilio", post(twilio::receive))
        .with_state(state)
}

/// Records the reports of one delivery; 500 (the provider retries) when the
/// database cannot take them.
async fn record(state: &WebhookState, reports: &[Report]) -> StatusCode {
    match inbound::record(&state.pool, reports).await {
        Ok(new) => {
            if new > 0 {
                state.inbound.notify_one();
            }
            StatusCode::OK
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot record a webhook");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// `done:<notification id>` and `snooze:<notification id>`, as our buttons
/// carry them, and the confirmation's Yes and No (as START and STOP);
/// anything else is an ordinary message.
pub(crate) fn parse_button(payload: &str) -> (ReportKind, Option<String>) {
    match payload {
        crate::providers::CONFIRM_YES => return (ReportKind::Start, None),
        crate::providers::CONFIRM_NO => return (ReportKind::Stop, None),
        _ => {}
    }
    let parsed = payload.split_once(':').and_then(|(action, id)| {
        let kind = match action {
            "done" => ReportKind::Done,
            "snooze" => ReportKind::Snooze,
            _ => return None,
        };
        uuid::Uuid::parse_str(id)
            .ok()
            .map(|id| (kind, Some(id.to_string())))
    });
    parsed.unwrap_or((ReportKind::Text, None))
}

/// STOP and START (any case, surrounding space ignored); anything else is text.
pub(crate) fn text_kind(body: &str) -> ReportKind {
    match body.trim().to_ascii_uppercase().as_str() {
        "STOP" => ReportKind::Stop,
        "START" => ReportKind::Start,
        _ => ReportKind::Text,
    }
}
