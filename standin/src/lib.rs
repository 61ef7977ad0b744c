//! A local stand-in for the WhatsApp Cloud API (and Twilio's Messages API),
//! for the tests and the benchmark: same paths, bodies and error codes. It
//! enforces what the real API enforces, so the notifier cannot pass by
//! breaking a rule: the bearer token (190), body shapes (100, 131008,
//! 131009, 132000, 132001), the 24-hour window (131047), the pair rate limit
//! (131056) and the throughput limit (130429). Tests can script faults per
//! recipient, and it sends signed webhooks back as Meta does.

mod rules;
mod webhooks;

pub use webhooks::{sign, twilio_sign};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::time::Instant;

pub use webhooks::Webhooks;

#[derive(Debug, Clone)]
pub struct StandinConfig {
    pub access_token: String,
    pub phone_number_id: String,
    pub app_secret: String,
    /// The reminder template approved for the business: two body parameters.
    pub template_name: String,
    /// The confirmation template approved too: one body parameter.
    pub confirm_template_name: String,
    /// 130429 beyond this many messages in any one second.
    pub max_mps: usize,
    /// 131056 for a second message to one recipient within this.
    pub pair_gap: Duration,
    /// Send `sent` and `delivered` status webhooks after each message.
    pub status_webhooks: bool,
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
}

impl Default for StandinConfig {
    fn default() -> Self {
        Self {
            access_token: "test-access-token".into(),
            phone_number_id: "106540352242922".into(),
            app_secret: "test-app-secret-0123456789".into(),
            template_name: "task_reminder".into(),
            confirm_template_name: "reminders_opt_in".into(),
            max_mps: 80,
            pair_gap: Duration::from_secs(6),
            status_webhooks: true,
            twilio_account_sid: "AC00000000000000000000000000000000".into(),
            twilio_auth_token: "test-twilio-token".into(),
        }
    }
}

/// What to do with the next request to a recipient, before the usual rules.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this HTTP status and Graph error code.
    Error { http: u16, code: i64 },
    /// A 5xx with no Graph error in the body.
    ServerError(u16),
    /// Hold the request this long, then process it as usual (a slow
    /// answer: WhatsApp took the message even if the client gave up).
    Delay(Duration),
    /// Hold the request this long, then fail it with a 504 (a timeout at
    /// WhatsApp's edge: the message was not taken).
    Hang(Duration),
}

/// One message the stand-in accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Digits only.
    pub to: String,
    /// `template`, `interactive`, `text`, or for Twilio `twilio`.
    pub kind: String,
    pub body: Value,
    pub message_id: String,
    pub time: DateTime<Utc>,
}

#[derive(Default)]
struct Ledger {
    sent: Vec<Sent>,
    /// Inbound message ids marked read (`status: read`).
    reads: Vec<String>,
    /// Every request, accepted or not: (recipient, time).
    requests: Vec<(String, DateTime<Utc>)>,
    refused: HashMap<i64, usize>,
    windows: HashMap<String, DateTime<Utc>>,
    last_accepted: HashMap<String, Instant>,
    recent: VecDeque<Instant>,
    faults: HashMap<String, VecDeque<Fault>>,
    access_token: String,
}

#[derive(Clone)]
pub struct CloudApi {
    pub addr: SocketAddr,
    pub config: StandinConfig,
    ledger: Arc<Mutex<Ledger>>,
    pub webhooks: Webhooks,
}

impl CloudApi {
    /// Serves on 127.0.0.1 at a free port until the runtime stops.
    pub async fn start(config: StandinConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let ledger = Arc::new(Mutex::new(Ledger {
            access_token: config.access_token.clone(),
            ..Ledger::default()
        }));
        let api = Self {
            addr,
            webhooks: Webhooks::new(config.clone()),
            config,
            ledger,
        };
        let app = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(meta_messages))
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(twilio_messages),
            )
            .with_state(api.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(api)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger
            .lock()
            .expect("the stand-in's lock is never poisoned")
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.ledger().sent.clone()
    }

    /// How many messages it accepted (cheap: no copies).
    pub fn sent_count(&self) -> usize {
        self.ledger().sent.len()
    }

    /// The most messages it accepted within any one second: what the
    /// account's limit bounds.
    pub fn busiest_second(&self) -> usize {
        let mut times: Vec<_> = self.ledger().sent.iter().map(|s| s.time).collect();
        times.sort();
        let mut first = 0;
        let mut busiest = 0;
        for last in 0..times.len() {
            while times[last] - times[first] >= chrono::Duration::seconds(1) {
                first += 1;
            }
            busiest = busiest.max(last - first + 1);
        }
        busiest
    }

    /// The inbound message ids the notifier marked read.
    pub fn reads(&self) -> Vec<String> {
        self.ledger().reads.clone()
    }

    pub fn sent_to(&self, digits: &str) -> Vec<Sent> {
        self.ledger()
            .sent
            .iter()
            .filter(|s| s.to == digits)
            .cloned()
            .collect()
    }

    /// Requests made for a recipient, accepted or refused.
    pub fn requests_to(&self, digits: &str) -> usize {
        self.ledger()
            .requests
            .iter()
            .filter(|(to, _)| to == digits)
            .count()
    }

    /// How often it answered with this error code.
    pub fn refused(&self, code: i64) -> usize {
        self.ledger().refused.get(&code).copied().unwrap_or(0)
    }

    pub fn inject(&self, digits: &str, fault: Fault) {
        self.ledger()
            .faults
            .entry(digits.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// The token it accepts from now on (the old one gets 190).
    pub fn set_access_token(&self, token: &str) {
        token.clone_into(&mut self.ledger().access_token);
    }

    /// Opens the recipient's 24-hour window, as an inbound message does.
    pub fn open_window(&self, digits: &str) {
        self.ledger().windows.insert(digits.to_owned(), Utc::now());
    }

    /// The user `digits` writes `text` to the business: the window opens and
    /// the webhook goes to the notifier. Returns the webhook's HTTP status.
    pub async fn user_writes(&self, digits: &str, text: &str) -> u16 {
        self.open_window(digits);
        self.webhooks.inbound_text(digits, text).await
    }

    /// The user presses a reply button (`interactive`) or a template's quick
    /// reply carrying `id`.
    pub async fn user_presses(&self, digits: &str, id: &str, quick_reply: bool) -> u16 {
        self.open_window(digits);
        self.webhooks.button(digits, id, quick_reply).await
    }

    /// The user sends a sticker: the window opens, nothing is asked.
    pub async fn user_sends_sticker(&self, digits: &str) -> u16 {
        self.open_window(digits);
        let payload = self.webhooks.sticker_payload(digits);
        self.webhooks.post(&payload).await
    }

    /// The user picks the row `id` of a list message.
    pub async fn user_picks(&self, digits: &str, id: &str) -> u16 {
        self.open_window(digits);
        let payload = self.webhooks.list_reply_payload(digits, id);
        self.webhooks.post(&payload).await
    }

    /// Waits until `predicate` holds for what was sent, or panics at `within`.
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        predicate: impl Fn(&[Sent]) -> bool,
    ) -> Vec<Sent> {
        let deadline = Instant::now() + within;
        loop {
            let sent = self.sent();
            if predicate(&sent) {
                return sent;
            }
            assert!(
                Instant::now() < deadline,
                "the stand-in did not see {what} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

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

async fn meta_messages(
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

async fn twilio_messages(
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
