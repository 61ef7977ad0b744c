//! A local stand-in for the WhatsApp Cloud API (and Twilio's Messages API),
//! for the tests and the benchmark: same paths, bodies and error codes. It
//! enforces what the real API enforces, so the notifier cannot pass by
//! breaking a rule: the bearer token (190), body shapes (100, 131008,
//! 131009, 132000, 132001), the 24-hour window (131047), the pair rate limit
//! (131056) and the throughput limit (130429). Tests can script faults per
//! recipient, and it sends signed webhooks back as Meta does.

mod meta;
mod rules;
mod twilio;
mod webhooks;

pub use webhooks::{sign, twilio_sign};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;
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
            .route(
                "/{version}/{phone_number_id}/messages",
                post(meta::messages),
            )
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(twilio::messages),
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
