//! `POST /webhooks/twilio`: Twilio's status callbacks and inbound messages,
//! checked by `X-Twilio-Signature` (base64 HMAC-SHA1 with the auth token over
//! the public URL followed by each form field's name and value, sorted by
//! name) before anything is read.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{parse_button, record, text_detail, text_kind, WebhookState};
use crate::domain::PhoneNumber;
use crate::domain::ReportKind;
use crate::store::inbound::Report;

/// HMAC-SHA1 with the auth token over `url` and each form field's name and
/// value, sorted by name (then value).
fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

fn signature_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> bool {
    let Some(given) = header.and_then(|h| STANDARD.decode(h).ok()) else {
        return false;
    };
    // Constant-time comparison.
    mac(auth_token, url, params).verify_slice(&given).is_ok()
}

fn refuse_signature() -> (
    StatusCode,
    [(header::HeaderName, &'static str); 1],
    &'static str,
) {
    metrics::counter!("webhooks_refused_total", "provider" => "twilio", "reason" => "signature")
        .increment(1);
    tracing::warn!("refused a Twilio webhook with a missing or wrong signature");
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/xml")],
        EMPTY_TWIML,
    )
}

/// An empty TwiML answer: no auto-reply.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// Form fields Twilio sends are a few dozen; the signature covers them all,
/// so they are parsed before it can be checked: this bounds that work.
const MAX_FIELDS: usize = 200;

pub(crate) async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let twiml = |status: StatusCode| {
        (status, [(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response()
    };
    let (Some(token), Some(public_url)) = (&state.twilio_auth_token, &state.public_url) else {
        return twiml(StatusCode::UNAUTHORIZED);
    };
    // A request without a well-formed signature (base64 of a SHA-1 MAC) is
    // refused before its body is read.
    let header = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    if header
        .and_then(|h| STANDARD.decode(h).ok())
        .is_none_or(|mac| mac.len() != 20)
    {
        return refuse_signature().into_response();
    }
    // Held until answered: the body's bytes count against the port's budget.
    let (body, _held) = match super::read_body(&state.bodies, body).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    if body.iter().filter(|&&b| b == b'&').count() >= MAX_FIELDS {
        return twiml(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return twiml(StatusCode::BAD_REQUEST);
    };
    let url = format!("{}/webhooks/twilio", public_url.trim_end_matches('/'));
    if !signature_valid(token.expose(), &url, &params, header) {
        return refuse_signature().into_response();
    }
    match parse(&params) {
        Ok(reports) => twiml(record(&state, reports).await),
        Err(e) => {
            tracing::warn!(error = %e, "refused a signed Twilio webhook that is not Twilio's shape");
            twiml(StatusCode::BAD_REQUEST)
        }
    }
}

/// A status callback (`MessageStatus`) or an inbound message (`From`, `Body`,
/// `ButtonPayload`).
pub(crate) fn parse(params: &[(String, String)]) -> Result<Vec<Report>, String> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let sid = get("MessageSid")
        .or_else(|| get("SmsSid"))
        .ok_or("no MessageSid")?;
    let status = get("MessageStatus").or_else(|| get("SmsStatus"));
    if let Some(why) = super::unrecordable(sid, status) {
        return Err(why);
    }
    if let Some(status) = status {
        if get("Body").is_none() {
            // queued, accepted, sending: nothing to record.
            if crate::domain::Status::from_report(status).is_none() {
                return Ok(vec![]);
            }
            return Ok(vec![Report {
                key: format!("twilio:status:{sid}:{status}"),
                provider: "twilio",
                kind: ReportKind::Status,
                from_number: None,
                reference: Some(sid.to_owned()),
                detail: Some(status.to_owned()),
                error: get("ErrorCode")
                    .map(|code| format!("{code}: {}", get("ErrorMessage").unwrap_or("error"))),
                time: Utc::now(),
            }]);
        }
    }
    let from = PhoneNumber::from_provider(get("From").ok_or("no From")?)?;
    let body = get("Body").unwrap_or_default();
    let (kind, reference, detail) = match get("ButtonPayload").filter(|p| !p.is_empty()) {
        Some(payload) => {
            let (kind, reference) = parse_button(payload);
            (kind, reference, None)
        }
        None => {
            let kind = text_kind(body);
            (kind, None, text_detail(kind, body))
        }
    };
    Ok(vec![Report {
        key: format!("twilio:message:{sid}"),
        provider: "twilio",
        kind,
        from_number: Some(from),
        reference,
        detail,
        error: None,
        time: Utc::now(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_signatures_cover_the_url_and_sorted_fields() {
        // Twilio's documented example.
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        // The value in Twilio's webhook-security documentation.
        let signature = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert_eq!(
            todogenie_standin::twilio_sign("12345", url, &params),
            signature
        );
        assert!(signature_valid("12345", url, &params, Some(signature)));
        assert!(!signature_valid(
            "12345",
            "https://other.example/",
            &params,
            Some(signature)
        ));
        assert!(!signature_valid("12345", url, &params, None));
    }

    #[test]
    fn a_sid_or_status_too_long_to_record_is_refused() {
        let form = |sid: &str, status: &str| -> Vec<(String, String)> {
            [("MessageSid", sid), ("MessageStatus", status)]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let widest = "S".repeat(super::super::MAX_PROVIDER_ID_BYTES);
        assert_eq!(parse(&form(&widest, "delivered")).unwrap().len(), 1);
        let long = "S".repeat(super::super::MAX_PROVIDER_ID_BYTES + 1);
        assert!(parse(&form(&long, "delivered"))
            .unwrap_err()
            .contains("257 bytes"));
        assert!(parse(&form("SM1", &"d".repeat(33))).is_err());
        assert!(parse(&form("", "delivered")).is_err());
    }
}
