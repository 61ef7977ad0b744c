//! The stand-in's webhooks: JSON exactly as Meta posts it, signed with
//! `X-Hub-Signature-256` over the raw bytes.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::StandinConfig;

/// `X-Twilio-Signature` as Twilio computes it: base64 HMAC-SHA1 with the
/// auth token over the URL followed by each form field's name and value,
/// sorted by name.
pub fn twilio_sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    use base64::Engine as _;
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `X-Hub-Signature-256` as Meta computes it: HMAC-SHA256 of the raw body
/// with the app secret, hex, after `sha256=`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// How often, and how far apart, an unanswered status webhook is sent again.
const STATUS_TRIES: usize = 40;
const STATUS_RETRY: std::time::Duration = std::time::Duration::from_millis(250);

#[derive(Clone)]
pub struct Webhooks {
    config: StandinConfig,
    target: Arc<Mutex<Option<String>>>,
    http: reqwest::Client,
}

impl Webhooks {
    pub fn new(config: StandinConfig) -> Self {
        Self {
            config,
            target: Arc::default(),
            http: reqwest::Client::new(),
        }
    }

    /// Where webhooks go: the notifier's `/webhooks/whatsapp`.
    pub fn point_at(&self, url: String) {
        *self.target.lock().expect("never poisoned") = Some(url);
    }

    fn envelope(&self, value: Value) -> Value {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": value }] }],
        })
    }

    fn metadata(&self) -> Value {
        json!({ "display_phone_number": "15550783881", "phone_number_id": self.config.phone_number_id })
    }

    /// Posts `body` signed with `secret`; the notifier's HTTP status (0 when
    /// no target is set or it cannot be reached).
    pub async fn post_signed_with(&self, body: &[u8], signature: Option<&str>) -> u16 {
        let Some(url) = self.target.lock().expect("never poisoned").clone() else {
            return 0;
        };
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        match request.send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    pub async fn post(&self, payload: &Value) -> u16 {
        let body = serde_json::to_vec(payload).expect("JSON serialises");
        let signature = sign(self.config.app_secret.as_bytes(), &body);
        self.post_signed_with(&body, Some(&signature)).await
    }

    /// Status updates for one message, in order, each delivered again until
    /// it is answered 200.
    pub async fn statuses(
        &self,
        message_id: &str,
        to: &str,
        statuses: &[&str],
        callback: Option<&str>,
    ) {
        for status in statuses {
            let mut update = json!({
                "id": message_id,
                "status": status,
                "timestamp": chrono::Utc::now().timestamp().to_string(),
                "recipient_id": to,
            });
            if let Some(callback) = callback {
                update["biz_opaque_callback_data"] = json!(callback);
            }
            // Meta delivers again what was not answered 200 (for days; here
            // for a few seconds).
            let payload = self.status_payload(update);
            for _ in 0..STATUS_TRIES {
                if self.post(&payload).await == 200 {
                    break;
                }
                tokio::time::sleep(STATUS_RETRY).await;
            }
        }
    }

    pub fn status_payload(&self, update: Value) -> Value {
        self.envelope(json!({
            "messaging_product": "whatsapp",
            "metadata": self.metadata(),
            "statuses": [update],
        }))
    }

    fn message_payload(&self, from: &str, message: Value) -> Value {
        self.envelope(json!({
            "messaging_product": "whatsapp",
            "metadata": self.metadata(),
            "contacts": [{ "profile": { "name": "Test User" }, "wa_id": from }],
            "messages": [message],
        }))
    }

    fn message(from: &str, kind: &str) -> Value {
        json!({
            "from": from,
            "id": format!("wamid.in.{}", uuid::Uuid::new_v4().simple()),
            "timestamp": chrono::Utc::now().timestamp().to_string(),
            "type": kind,
        })
    }

    pub fn text_payload(&self, from: &str, text: &str) -> Value {
        let mut message = Self::message(from, "text");
        message["text"] = json!({ "body": text });
        self.message_payload(from, message)
    }

    pub async fn inbound_text(&self, from: &str, text: &str) -> u16 {
        self.post(&self.text_payload(from, text)).await
    }

    pub fn button_payload(&self, from: &str, id: &str, quick_reply: bool) -> Value {
        let message = if quick_reply {
            let mut m = Self::message(from, "button");
            m["button"] = json!({ "payload": id, "text": "Done" });
            m
        } else {
            let mut m = Self::message(from, "interactive");
            m["interactive"] =
                json!({ "type": "button_reply", "button_reply": { "id": id, "title": "Done" } });
            m
        };
        self.message_payload(from, message)
    }

    /// A sticker: a message with no text (it opens the window, asks nothing).
    pub fn sticker_payload(&self, from: &str) -> Value {
        let mut m = Self::message(from, "sticker");
        m["sticker"] = json!({ "mime_type": "image/webp", "id": "1234", "animated": false });
        self.message_payload(from, m)
    }

    /// A row picked from a list message.
    pub fn list_reply_payload(&self, from: &str, id: &str) -> Value {
        let mut m = Self::message(from, "interactive");
        m["interactive"] = json!({
            "type": "list_reply",
            "list_reply": { "id": id, "title": "picked", "description": "" },
        });
        self.message_payload(from, m)
    }

    pub async fn button(&self, from: &str, id: &str, quick_reply: bool) -> u16 {
        self.post(&self.button_payload(from, id, quick_reply)).await
    }
}
