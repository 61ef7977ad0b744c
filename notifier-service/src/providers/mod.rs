//! Sending a message through a WhatsApp provider. One trait, three
//! implementations: the Meta Cloud API, Twilio, and `log`. Each turns its
//! provider's answer into a [`SendError`] whose [`ErrorClass`] is all the
//! delivery engine decides on (README, "Retries": by the error code, not the HTTP status).

mod log;
mod meta;
mod twilio;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::PhoneNumber;

pub(crate) use self::log::LogProvider;
pub(crate) use meta::{MetaProvider, Templates};
pub(crate) use twilio::TwilioProvider;

/// What to send. Providers render it in their own wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// The approved reminder template (allowed outside the 24-hour window):
    /// {{1}} the title, {{2}} the due time, quick replies Done and Snooze.
    Template {
        title: String,
        due: String,
        done_payload: String,
        snooze_payload: String,
    },
    /// Reply buttons Done and Snooze 1h (inside the window only).
    Interactive {
        body: String,
        done_id: String,
        snooze_id: String,
    },
    /// Plain text (inside the window; SMS).
    Text { body: String },
    /// The approved confirmation template (`WHATSAPP_CONFIRM_TEMPLATE`):
    /// {{1}} the contact's user id, quick replies Yes and No.
    ConfirmTemplate {
        user: String,
        yes_payload: String,
        no_payload: String,
    },
    /// Reply buttons Yes and No (inside the window only).
    ConfirmButtons {
        body: String,
        yes_id: String,
        no_id: String,
    },
    /// An emoji reaction to one of the user's messages (inside the window).
    Reaction { message_id: String, emoji: String },
    /// A text with one reply button, *Undo* (inside the window).
    Undoable { body: String, undo_id: String },
    /// A list to pick one row from (inside the window): at most 10 rows.
    List {
        body: String,
        button: String,
        rows: Vec<ListRow>,
    },
}

/// One row of a [`Message::List`]: the id comes back when it is picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListRow {
    pub id: String,
    /// At most 24 characters.
    pub title: String,
    /// At most 72 characters.
    pub description: String,
}

/// The payloads of the confirmation's Yes and No (webhooks read them back).
pub(crate) const CONFIRM_YES: &str = "confirm:yes";
pub(crate) const CONFIRM_NO: &str = "confirm:no";

impl Message {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Message::Template { .. } => "template",
            Message::Interactive { .. } => "interactive",
            Message::Text { .. } => "text",
            Message::ConfirmTemplate { .. } => "confirm_template",
            Message::ConfirmButtons { .. } => "confirm_buttons",
            Message::Reaction { .. } => "reaction",
            Message::Undoable { .. } => "undoable",
            Message::List { .. } => "list",
        }
    }
}

/// What the delivery engine should do after a failed send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// Try again later (5xx, timeouts, throughput limits); `retry_after`
    /// when the provider said how long to wait.
    Retryable { retry_after: Option<Duration> },
    /// 131056: too many messages to this recipient; retry it alone later.
    PairRateLimited,
    /// 131047: outside the 24-hour window; send the template instead.
    OutsideWindow,
    /// 131050: the user stopped these messages; opt the contact out.
    OptedOut,
    /// 190 and other credential errors: stop sending until fixed.
    Credentials,
    /// Never succeeds as sent.
    Permanent,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub(crate) struct SendError {
    pub class: ErrorClass,
    /// The provider's error code, when it gave one.
    pub code: Option<i64>,
    /// The provider's words (never a credential).
    pub detail: String,
}

impl SendError {
    pub(crate) fn describe(&self) -> String {
        match self.code {
            Some(code) => format!("{code}: {}", self.detail),
            None => self.detail.clone(),
        }
    }

    /// A transport failure: no answer, so it is unknown whether the message
    /// was taken.
    pub(crate) fn transport(error: &reqwest::Error) -> Self {
        let what = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        Self {
            class: ErrorClass::Retryable { retry_after: None },
            code: None,
            detail: what.into(),
        }
    }

    /// An answer with no error code we can read.
    pub(crate) fn http(status: reqwest::StatusCode) -> Self {
        let class = if status.is_server_error() || status.as_u16() == 429 {
            ErrorClass::Retryable { retry_after: None }
        } else if status.as_u16() == 401 {
            ErrorClass::Credentials
        } else {
            ErrorClass::Permanent
        };
        Self {
            class,
            code: None,
            detail: format!("HTTP {status}"),
        }
    }
}

/// A provider's answer: its status, its `Retry-After` (seconds) if any, and
/// its body. A failure to read the body is a transport failure.
pub(crate) async fn read_answer(
    response: reqwest::Response,
) -> Result<(reqwest::StatusCode, Option<Duration>, bytes::Bytes), SendError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response
        .bytes()
        .await
        .map_err(|e| SendError::transport(&e))?;
    Ok((status, retry_after, body))
}

impl ErrorClass {
    /// This class, with the provider's `Retry-After` if it is a retry.
    pub(crate) fn with_retry_after(self, after: Option<Duration>) -> Self {
        match self {
            ErrorClass::Retryable { .. } => ErrorClass::Retryable { retry_after: after },
            other => other,
        }
    }
}

/// A WhatsApp sender.
#[async_trait]
pub(crate) trait Provider: Send + Sync {
    /// `meta`, `twilio` or `log`.
    fn name(&self) -> &'static str;

    /// Sends one message; the provider's message id on success.
    async fn send(&self, to: &PhoneNumber, message: &Message) -> Result<String, SendError>;

    /// Marks an inbound message read (the blue ticks), where the provider
    /// can: Meta's Cloud API can, Twilio's WhatsApp API and `log` cannot.
    async fn mark_read(&self, _message_id: &str) -> Result<(), SendError> {
        Ok(())
    }
}

/// The request, carrying the current trace (`traceparent`) when traces
/// are exported; providers ignore it, proxies and collectors can use it.
pub(crate) fn traced(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match todogenie_common::telemetry::traceparent_of(&tracing::Span::current()) {
        Some(traceparent) => request.header("traceparent", traceparent),
        None => request,
    }
}

/// An HTTP client with the timeouts reqwest leaves unset.
pub(crate) fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(3))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
        .expect("a reqwest client with rustls builds")
}
