//! Where webhooks enter: Meta's (`/webhooks/whatsapp`) and Twilio's
//! (`/webhooks/twilio`). Both check a signature over the raw request first,
//! record what they were told (deduplicated by the provider's ids) and answer
//! at once; `crate::inbound` acts on it.

mod intake;
pub(crate) mod twilio;
pub(crate) mod whatsapp;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Notify;

use todogenie_common::request_budget::{Held, RequestBudget};

use crate::config::Secret;
use crate::domain::ReportKind;
use crate::store::inbound::Report;
pub(crate) use intake::Intake;

#[derive(Clone)]
pub(crate) struct WebhookState {
    /// Records deliveries, batched with those arriving together.
    pub intake: Intake,
    pub app_secret: Option<Secret>,
    pub verify_token: Option<Secret>,
    pub twilio_auth_token: Option<Secret>,
    pub public_url: Option<String>,
    /// Wakes the inbound worker.
    pub inbound: Arc<Notify>,
    /// What the bodies being read hold, together ([`MAX_BODY_BYTES_IN_FLIGHT`]).
    pub bodies: RequestBudget,
}

pub(crate) fn router(state: WebhookState) -> Router {
    Router::new()
        .route(
            "/webhooks/whatsapp",
            get(whatsapp::verify).post(whatsapp::receive),
        )
        .route("/webhooks/twilio", post(twilio::receive))
        .with_state(state)
        // One span per webhook, continuing a `traceparent` if one came.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(todogenie_common::telemetry::request_span::<axum::body::Body>)
                .on_request(())
                .on_response(())
                .on_failure(()),
        )
}

/// Largest webhook body taken (Meta batches up to 1,000 updates in a few
/// hundred KB; Twilio's forms are a few KB).
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A body must arrive within this, or the connection is dropped.
pub(crate) const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Webhook body bytes held at once, over every connection: 64 of the
/// largest. The port's 1,024 connections may each carry 200 HTTP/2 streams
/// (hyper's default), so a body's own bound alone allowed 200 GiB.
pub(crate) const MAX_BODY_BYTES_IN_FLIGHT: usize = 64 * MAX_BODY_BYTES;
/// How long a provider refused for want of room is asked to wait.
const RETRY_AFTER_SECS: &str = "1";

/// The raw body, at most [`MAX_BODY_BYTES`] (413) within [`BODY_TIMEOUT`]
/// (408), a broken one 400: what the signature is checked over, before
/// anything is parsed. Its bytes are held of `budget` while the caller keeps
/// the [`Held`]; when the budget is spent, 503 with `Retry-After` (the
/// providers deliver again).
pub(crate) async fn read_body(
    budget: &RequestBudget,
    body: axum::body::Body,
) -> Result<(axum::body::Bytes, Held), Response> {
    use axum::response::IntoResponse as _;
    use http_body_util::BodyExt as _;
    let refused = |status: StatusCode, reason: &'static str| {
        metrics::counter!("webhooks_refused_total", "reason" => reason).increment(1);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            (
                status,
                [(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECS)],
            )
                .into_response()
        } else {
            status.into_response()
        }
    };
    let mut held = budget.hold(MAX_BODY_BYTES);
    let read = async {
        let mut body = body;
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Err(refused(StatusCode::BAD_REQUEST, "broken"));
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if bytes.len() + data.len() > MAX_BODY_BYTES {
                return Err(refused(StatusCode::PAYLOAD_TOO_LARGE, "too_large"));
            }
            if !held.take(data.len()) {
                tracing::warn!(
                    limit = MAX_BODY_BYTES_IN_FLIGHT,
                    "refused a webhook: the bodies being received hold the most bytes the port holds"
                );
                return Err(refused(StatusCode::SERVICE_UNAVAILABLE, "request_bytes"));
            }
            bytes.extend_from_slice(&data);
        }
        Ok(axum::body::Bytes::from(bytes))
    };
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(bytes)) => Ok((bytes, held)),
        Ok(Err(refused)) => Err(refused),
        Err(_) => Err(refused(StatusCode::REQUEST_TIMEOUT, "too_slow")),
    }
}

/// Records the reports of one delivery; 500 (the provider retries) when the
/// database cannot take them.
async fn record(state: &WebhookState, reports: Vec<Report>) -> StatusCode {
    match state.intake.record(reports).await {
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

/// Longest provider message id taken, in bytes. Meta's ids (`wamid.…`) are
/// about 60 characters and Twilio's SIDs 34. The id (with a status report's
/// status) is `inbound.key`, a B-tree key of at most 2,704 bytes: a longer
/// one would fail the insert, and the provider's retries with it, for ever.
pub(crate) const MAX_PROVIDER_ID_BYTES: usize = 256;
/// Longest reported status taken, in bytes (Meta's and Twilio's are a word).
pub(crate) const MAX_STATUS_BYTES: usize = 32;

/// Why a report with this provider id (and status) cannot be recorded, if
/// it cannot. Says the lengths, never the values: they are arbitrary text.
pub(crate) fn unrecordable(id: &str, status: Option<&str>) -> Option<String> {
    if id.is_empty() || id.len() > MAX_PROVIDER_ID_BYTES {
        return Some(format!(
            "a message id of {} bytes (1 to {MAX_PROVIDER_ID_BYTES} taken)",
            id.len()
        ));
    }
    match status {
        Some(status) if status.len() > MAX_STATUS_BYTES => Some(format!(
            "a status of {} bytes (at most {MAX_STATUS_BYTES} taken)",
            status.len()
        )),
        _ => None,
    }
}

/// What a button or list row carries: `done:<notification id>` and
/// `snooze:<notification id>` on reminders; `task-done:<task id>` and
/// `task-snooze:<task id>` on a task picked from a list (the reference is
/// then `task:<task id>`); `undo:<task id>`; a list row's `task:<task id>`;
/// the confirmation's Yes and No (as START and STOP). Anything else is an
/// ordinary message.
pub(crate) fn parse_button(payload: &str) -> (ReportKind, Option<String>) {
    match payload {
        crate::providers::CONFIRM_YES => return (ReportKind::Start, None),
        crate::providers::CONFIRM_NO => return (ReportKind::Stop, None),
        _ => {}
    }
    let parsed = payload.split_once(':').and_then(|(action, id)| {
        let (kind, prefix) = match action {
            "done" => (ReportKind::Done, ""),
            "snooze" => (ReportKind::Snooze, ""),
            "task-done" => (ReportKind::Done, "task:"),
            "task-snooze" => (ReportKind::Snooze, "task:"),
            "undo" => (ReportKind::Undo, ""),
            "task" => (ReportKind::Pick, ""),
            _ => return None,
        };
        uuid::Uuid::parse_str(id)
            .ok()
            .map(|id| (kind, Some(format!("{prefix}{id}"))))
    });
    parsed.unwrap_or((ReportKind::Text, None))
}

/// What a text message said, kept for acting on it (commands, and tasks
/// written in words): WhatsApp's own limit, 4,096 characters.
pub(crate) fn text_detail(kind: ReportKind, body: &str) -> Option<String> {
    (kind == ReportKind::Text).then(|| body.chars().take(4096).collect())
}

/// STOP and START (any case, surrounding space ignored); anything else is text.
pub(crate) fn text_kind(body: &str) -> ReportKind {
    match body.trim().to_ascii_uppercase().as_str() {
        "STOP" => ReportKind::Stop,
        "START" => ReportKind::Start,
        _ => ReportKind::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_button;
    use crate::domain::ReportKind;

    #[test]
    fn button_payloads_name_their_action_and_anything_else_is_text() {
        let id = "0191e0b4-7d2c-7d4e-8f00-000000000001";
        let cases = [
            (format!("done:{id}"), ReportKind::Done, Some(id.to_owned())),
            (
                format!("snooze:{id}"),
                ReportKind::Snooze,
                Some(id.to_owned()),
            ),
            (
                format!("task-done:{id}"),
                ReportKind::Done,
                Some(format!("task:{id}")),
            ),
            (
                format!("task-snooze:{id}"),
                ReportKind::Snooze,
                Some(format!("task:{id}")),
            ),
            (format!("undo:{id}"), ReportKind::Undo, Some(id.to_owned())),
            (format!("task:{id}"), ReportKind::Pick, Some(id.to_owned())),
            ("confirm:yes".to_owned(), ReportKind::Start, None),
            ("confirm:no".to_owned(), ReportKind::Stop, None),
            ("undo:not-a-uuid".to_owned(), ReportKind::Text, None),
            ("task:task:x".to_owned(), ReportKind::Text, None),
            ("whatever".to_owned(), ReportKind::Text, None),
        ];
        for (payload, kind, reference) in cases {
            assert_eq!(parse_button(&payload), (kind, reference), "{payload}");
        }
    }
}
