//! `GET|POST /webhooks/whatsapp`: Meta's subscription handshake, and
//! notifications checked by `X-Hub-Signature-256` (HMAC-SHA256 of the raw
//! body with the app secret, compared in constant time) before anything is
//! read. What they say (`notification`) is recorded and answered at once;
//! the inbound worker acts on it.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use super::{record, WebhookState};

mod notification;
use notification::{parse, Parsed};

/// `hub.mode=subscribe&hub.verify_token=T&hub.challenge=C` → 200 `C` when
/// `T` is our verify token, else 403.
pub(crate) async fn verify(
    State(state): State<WebhookState>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    let Some(expected) = &state.verify_token else {
        return (
            StatusCode::FORBIDDEN,
            "no verify token is configured\n".into(),
        );
    };
    let mode = query.get("hub.mode").map(String::as_str);
    let token = query.get("hub.verify_token").map(String::as_bytes);
    let challenge = query.get("hub.challenge");
    let token_matches = token.is_some_and(|t| constant_time_eq(t, expected.expose().as_bytes()));
    match (mode, challenge) {
        (Some("subscribe"), Some(challenge)) if token_matches => {
            (StatusCode::OK, challenge.clone())
        }
        _ => (StatusCode::FORBIDDEN, "verification refused\n".into()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // `subtle` compares in time that depends on the lengths only (a token's
    // length is not secret); a hand-written fold may be cut short by the
    // optimiser.
    bool::from(a.ct_eq(b))
}

/// Checks `sha256=<hex>` against the raw body.
pub(crate) fn signature_valid(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_signature) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(signature) = hex::decode(hex_signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

pub(crate) async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(secret) = &state.app_secret else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    // A request without a well-formed signature (`sha256=` and 64 hex
    // digits) is refused before its body is read.
    let header = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .filter(|h| h.strip_prefix("sha256=").is_some_and(|hex| hex.len() == 64));
    if header.is_none() {
        return refuse_signature();
    }
    // Held until answered: the body's bytes count against the port's budget.
    let (body, _held) = match super::read_body(&state.bodies, body).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    if !signature_valid(secret.expose().as_bytes(), &body, header) {
        return refuse_signature();
    }
    let reports = match parse(&body) {
        Ok(Parsed { reports, left_out }) => {
            left_out.log();
            reports
        }
        Err(e) => {
            metrics::counter!("webhooks_refused_total", "provider" => "meta", "reason" => "shape")
                .increment(1);
            tracing::warn!(error = %e, "refused a signed WhatsApp webhook that is not the Cloud API's shape");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    record(&state, reports).await.into_response()
}

fn refuse_signature() -> Response {
    metrics::counter!("webhooks_refused_total", "provider" => "meta", "reason" => "signature")
        .increment(1);
    tracing::warn!("refused a WhatsApp webhook with a missing or wrong signature");
    StatusCode::UNAUTHORIZED.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_byte_for_byte() {
        assert!(constant_time_eq(b"verify-token", b"verify-token"));
        assert!(!constant_time_eq(b"verify-token", b"verify-tokeN"));
        assert!(!constant_time_eq(b"verify-token", b"verify-toke"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn only_the_right_signature_over_the_exact_bytes_passes() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let good = todogenie_standin::sign(b"app-secret", body);
        assert!(signature_valid(b"app-secret", body, Some(&good)));
        assert!(!signature_valid(b"other", body, Some(&good)));
        assert!(!signature_valid(b"app-secret", b"{ }", Some(&good)));
        assert!(!signature_valid(b"app-secret", body, None));
        assert!(!signature_valid(b"app-secret", body, Some("sha256=zz")));
    }
}
