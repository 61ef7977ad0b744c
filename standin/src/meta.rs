//! The Cloud API's `POST /{version}/{phone_number_id}/messages`: the bearer
//! token, scripted faults, then WhatsApp's rules in the order it applies
//! them (throughput, body shape, the 24-hour window, the pair rate).

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::{rules, CloudApi, Fault, Ledger, Sent, StandinConfig};

fn graph_error(http: u16, code: i64, message: &str) -> (StatusCode, Json<Value>) {
    let status = StatusCode::from_u16(http).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({ "error": {
            "message": message,
            "type": if code == 190 { "OAuthException" } else { "WhatsAppBusinessApiError" },
            "code": code,
            "error_data": { "messaging_product": "whatsapp", "details": message },
            "fbtrace_id": "AbCdEfGh123",
        }})),
    )
}

pub(crate) async fn messages(
    State(api): State<CloudApi>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    let arrived = Utc::now();
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token == api.ledger().access_token);
    if !authorised {
        *api.ledger().refused.entry(190).or_default() += 1;
        return graph_error(
            401,
            190,
            "Error validating access token: Session has expired",
        );
    }
    if phone_number_id != api.config.phone_number_id {
        return graph_error(
            400,
            100,
            "(#100) Unsupported post request. Object does not exist",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(400, 100, "(#100) The request body is not JSON");
    };
    // Marking an inbound message read: no recipient, no message sent.
    if body["status"] == "read" {
        let id = body["message_id"].as_str().unwrap_or_default();
        if body["messaging_product"] != "whatsapp" || !id.starts_with("wamid.") {
            return graph_error(400, 100, "(#100) Invalid parameter: message_id");
        }
        api.ledger().reads.push(id.to_owned());
        return (StatusCode::OK, Json(json!({ "success": true })));
    }
    let to = body["to"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('+')
        .to_owned();
    api.ledger().requests.push((to.clone(), arrived));
    let fault = api
        .ledger()
        .faults
        .get_mut(&to)
        .and_then(VecDeque::pop_front);
    match fault {
        Some(Fault::Error { http, code }) => {
            *api.ledger().refused.entry(code).or_default() += 1;
            return graph_error(http, code, "scripted failure");
        }
        Some(Fault::ServerError(http)) => {
            return (
                StatusCode::from_u16(http).unwrap_or(StatusCode::BAD_GATEWAY),
                Json(json!({})),
            );
        }
        Some(Fault::Delay(pause)) => tokio::time::sleep(pause).await,
        Some(Fault::Hang(pause)) => {
            tokio::time::sleep(pause).await;
            return (StatusCode::GATEWAY_TIMEOUT, Json(json!({})));
        }
        None => {}
    }
    let verdict = {
        let mut ledger = api.ledger();
        decide(&mut ledger, &api.config, &body)
    };
    match verdict {
        Ok(sent) => {
            let id = sent.message_id.clone();
            let callback = body["biz_opaque_callback_data"].as_str().map(str::to_owned);
            if api.config.status_webhooks {
                let webhooks = api.webhooks.clone();
                let to = sent.to.clone();
                tokio::spawn(async move {
                    webhooks
                        .statuses(&id, &to, &["sent", "delivered"], callback.as_deref())
                        .await
                });
            }
            (
                StatusCode::OK,
                Json(json!({
                    "messaging_product": "whatsapp",
                    "contacts": [{ "input": body["to"], "wa_id": sent.to }],
                    "messages": [{ "id": sent.message_id }],
                })),
            )
        }
        Err((http, code, message)) => {
            *api.ledger().refused.entry(code).or_default() += 1;
            graph_error(http, code, &message)
        }
    }
}

/// The rules, in the order WhatsApp applies them.
fn decide(
    ledger: &mut Ledger,
    config: &StandinConfig,
    body: &Value,
) -> Result<Sent, (u16, i64, String)> {
    let now = Instant::now();
    while ledger
        .recent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        ledger.recent.pop_front();
    }
    if ledger.recent.len() >= config.max_mps {
        return Err((
            400,
            130_429,
            "(#130429) Rate limit hit: Cloud API message throughput has been reached".into(),
        ));
    }
    ledger.recent.push_back(now);
    let (to, kind) = rules::check_message(
        body,
        &[
            (config.template_name.as_str(), 2),
            (config.confirm_template_name.as_str(), 1),
        ],
    )
    .map_err(|(code, m)| (400, code, m))?;
    let window_open = ledger
        .windows
        .get(&to)
        .is_some_and(|opened| Utc::now() - *opened < chrono::Duration::hours(24));
    if kind != "template" && !window_open {
        return Err((400, 131_047, "(#131047) Re-engagement message: more than 24 hours have passed since the recipient last replied".into()));
    }
    if ledger
        .last_accepted
        .get(&to)
        .is_some_and(|t| now.duration_since(*t) < config.pair_gap)
    {
        return Err((
            400,
            131_056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit".into(),
        ));
    }
    ledger.last_accepted.insert(to.clone(), now);
    let sent = Sent {
        to,
        kind,
        body: body.clone(),
        message_id: format!("wamid.{}", uuid::Uuid::new_v4().simple()),
        time: Utc::now(),
    };
    ledger.sent.push(sent.clone());
    Ok(sent)
}
