//! Twilio's `POST /2010-04-01/Accounts/{sid}/Messages.json`: Basic
//! authentication with the account's SID and token, the form's required
//! fields, and every accepted message recorded (WhatsApp or SMS).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use crate::{CloudApi, Sent};

pub(crate) async fn messages(
    State(api): State<CloudApi>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    use base64::Engine as _;
    let expected = format!(
        "{}:{}",
        api.config.twilio_account_sid, api.config.twilio_auth_token
    );
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|decoded| decoded == expected.as_bytes());
    if !authorised || sid != api.config.twilio_account_sid {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "code": 20003, "message": "Authenticate", "status": 401 })),
        );
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let (Some(to), Some(_from)) = (form.get("To"), form.get("From")) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({ "code": 21604, "message": "A 'To' and 'From' phone number is required.", "status": 400 }),
            ),
        );
    };
    if !form.contains_key("Body") && !form.contains_key("ContentSid") {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({ "code": 21619, "message": "A text message body or media url must be specified.", "status": 400 }),
            ),
        );
    }
    let digits = to
        .trim_start_matches("whatsapp:")
        .trim_start_matches('+')
        .to_owned();
    let message_id = format!("SM{}", uuid::Uuid::new_v4().simple());
    api.ledger().requests.push((digits.clone(), Utc::now()));
    api.ledger().sent.push(Sent {
        to: digits,
        kind: if to.starts_with("whatsapp:") {
            "twilio-whatsapp"
        } else {
            "sms"
        }
        .into(),
        body: json!(form),
        message_id: message_id.clone(),
        time: Utc::now(),
    });
    (
        StatusCode::CREATED,
        Json(json!({ "sid": message_id, "status": "queued", "to": to })),
    )
}
