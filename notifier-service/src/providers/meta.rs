//! The WhatsApp Cloud API: `POST {base}/{version}/{phone_number_id}/messages`
//! with a bearer token and the documented JSON bodies; `messages[0].id` (the
//! wamid) on success, `error.code` deciding what a failure means.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ErrorClass, Message, Provider, SendError};
use crate::config::Secret;
use crate::domain::PhoneNumber;

pub(crate) struct MetaProvider {
    http: reqwest::Client,
    url: String,
    token: Secret,
    template: String,
    confirm_template: String,
    language: String,
}

/// The approved templates' names and their language.
#[derive(Debug, Clone)]
pub(crate) struct Templates {
    pub reminder: String,
    pub confirm: String,
    pub language: String,
}

impl MetaProvider {
    pub(crate) fn new(
        http: reqwest::Client,
        base: &str,
        version: &str,
        phone_number_id: &str,
        token: Secret,
        templates: Templates,
    ) -> Self {
        Self {
            http,
            url: format!(
                "{}/{version}/{phone_number_id}/messages",
                base.trim_end_matches('/')
            ),
            token,
            template: templates.reminder,
            confirm_template: templates.confirm,
            language: templates.language,
        }
    }

    /// The request body for `message` to `to`, exactly as the Cloud API
    /// defines it.
    pub(crate) fn body(&self, to: &PhoneNumber, message: &Message) -> Value {
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to.digits(),
        });
        match message {
            Message::Template {
                title,
                due,
                done_payload,
                snooze_payload,
            } => {
                body["type"] = json!("template");
                body["template"] = self.template(
                    &self.template,
                    &[title, due],
                    [done_payload, snooze_payload],
                );
            }
            Message::Interactive {
                body: text,
                done_id,
                snooze_id,
            } => {
                body["type"] = json!("interactive");
                body["interactive"] = buttons(text, [(done_id, "Done"), (snooze_id, "Snooze 1h")]);
            }
            Message::Text { body: text } => {
                body["type"] = json!("text");
                body["text"] = json!({ "preview_url": false, "body": text });
            }
            Message::ConfirmTemplate {
                user,
                yes_payload,
                no_payload,
            } => {
                body["type"] = json!("template");
                body["template"] =
                    self.template(&self.confirm_template, &[user], [yes_payload, no_payload]);
            }
            Message::ConfirmButtons {
                body: text,
                yes_id,
                no_id,
            } => {
                body["type"] = json!("interactive");
                body["interactive"] = buttons(text, [(yes_id, "Yes"), (no_id, "No")]);
            }
            Message::Undoable {
                body: text,
                undo_id,
            } => {
                body["type"] = json!("interactive");
                body["interactive"] = json!({
                    "type": "button",
                    "body": { "text": text },
                    "action": { "buttons": [
                        { "type": "reply", "reply": { "id": undo_id, "title": "Undo" } },
                    ] },
                });
            }
            Message::List {
                body: text,
                button,
                rows,
            } => {
                let rows: Vec<Value> = rows
                    .iter()
                    .map(|r| json!({ "id": r.id, "title": r.title, "description": r.description }))
                    .collect();
                body["type"] = json!("interactive");
                body["interactive"] = json!({
                    "type": "list",
                    "body": { "text": text },
                    "action": { "button": button, "sections": [{ "title": "Tasks", "rows": rows }] },
                });
            }
            Message::Reaction { message_id, emoji } => {
                body["type"] = json!("reaction");
                body["reaction"] = json!({ "message_id": message_id, "emoji": emoji });
            }
        }
        body
    }
}

impl MetaProvider {
    /// An approved template: its body parameters, and the payloads of its
    /// two quick-reply buttons.
    fn template(&self, name: &str, parameters: &[&String], payloads: [&String; 2]) -> Value {
        let parameters: Vec<Value> = parameters
            .iter()
            .map(|text| json!({ "type": "text", "text": text }))
            .collect();
        let mut components = vec![json!({ "type": "body", "parameters": parameters })];
        for (index, payload) in payloads.iter().enumerate() {
            components.push(json!({
                "type": "button", "sub_type": "quick_reply", "index": index.to_string(),
                "parameters": [{ "type": "payload", "payload": payload }],
            }));
        }
        json!({
            "name": name,
            "language": { "code": self.language },
            "components": components,
        })
    }
}

/// An interactive message with two reply buttons, `(id, title)` each.
fn buttons(text: &str, replies: [(&String, &str); 2]) -> Value {
    let buttons: Vec<Value> = replies
        .iter()
        .map(|(id, title)| json!({ "type": "reply", "reply": { "id": id, "title": title } }))
        .collect();
    json!({
        "type": "button",
        "body": { "text": text },
        "action": { "buttons": buttons },
    })
}

#[derive(Deserialize)]
struct Accepted {
    messages: Vec<MessageId>,
}

#[derive(Deserialize)]
struct MessageId {
    id: String,
}

#[derive(Deserialize)]
struct Refused {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default)]
    details: String,
}

#[async_trait]
impl Provider for MetaProvider {
    fn name(&self) -> &'static str {
        "meta"
    }

    async fn send(&self, to: &PhoneNumber, message: &Message) -> Result<String, SendError> {
        let response = super::traced(self.http.post(&self.url))
            .bearer_auth(self.token.expose())
            .json(&self.body(to, message))
            .send()
            .await
            .map_err(|e| SendError::transport(&e))?;
        let (status, retry_after, bytes) = super::read_answer(response).await?;
        if status.is_success() {
            let accepted: Accepted = serde_json::from_slice(&bytes).map_err(|_| SendError {
                class: ErrorClass::Retryable { retry_after: None },
                code: None,
                detail: "a 2xx answer without messages[0].id".into(),
            })?;
            return accepted
                .messages
                .into_iter()
                .next()
                .map(|m| m.id)
                .ok_or_else(|| SendError {
                    class: ErrorClass::Retryable { retry_after: None },
                    code: None,
                    detail: "a 2xx answer without messages[0].id".into(),
                });
        }
        match serde_json::from_slice::<Refused>(&bytes) {
            Ok(refused) => {
                let error = refused.error;
                let class = classify_meta_code(error.code).with_retry_after(retry_after);
                let details = error.error_data.map(|d| d.details).unwrap_or_default();
                Err(SendError {
                    class,
                    code: Some(error.code),
                    detail: if details.is_empty() {
                        error.message
                    } else {
                        format!("{} ({details})", error.message)
                    },
                })
            }
            // No Graph error to read: decide by the HTTP status.
            Err(_) => Err(SendError::http(status)),
        }
    }

    async fn mark_read(&self, message_id: &str) -> Result<(), SendError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        });
        let response = super::traced(self.http.post(&self.url))
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::transport(&e))?;
        let (status, retry_after, bytes) = super::read_answer(response).await?;
        if status.is_success() {
            return Ok(());
        }
        match serde_json::from_slice::<Refused>(&bytes) {
            Ok(refused) => Err(SendError {
                class: classify_meta_code(refused.error.code).with_retry_after(retry_after),
                code: Some(refused.error.code),
                detail: refused.error.message,
            }),
            Err(_) => Err(SendError::http(status)),
        }
    }
}

/// What each Cloud API error code means for the sender (README, "Retries").
pub(crate) fn classify_meta_code(code: i64) -> ErrorClass {
    match code {
        130_429 | 80_007 | 4 | 131_000 | 131_016 | 2 | 131_057 | 1 | 131_048 => {
            ErrorClass::Retryable { retry_after: None }
        }
        131_056 => ErrorClass::PairRateLimited,
        131_047 => ErrorClass::OutsideWindow,
        131_050 => ErrorClass::OptedOut,
        // Expired or invalid token, missing permissions, locked account.
        190 | 0 | 3 | 10 | 102 | 200..=299 | 131_005 | 131_031 => ErrorClass::Credentials,
        _ => ErrorClass::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified_as_the_contract_lists_them() {
        for code in [130_429, 80_007, 4, 131_000, 131_016, 2, 131_057] {
            assert!(
                matches!(classify_meta_code(code), ErrorClass::Retryable { .. }),
                "{code}"
            );
        }
        for code in [131_026, 100, 131_008, 131_009, 132_000, 132_001, 132_012] {
            assert_eq!(classify_meta_code(code), ErrorClass::Permanent, "{code}");
        }
        assert_eq!(classify_meta_code(131_056), ErrorClass::PairRateLimited);
        assert_eq!(classify_meta_code(131_047), ErrorClass::OutsideWindow);
        assert_eq!(classify_meta_code(131_050), ErrorClass::OptedOut);
        assert_eq!(classify_meta_code(190), ErrorClass::Credentials);
    }
}
