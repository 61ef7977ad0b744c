//! Twilio's Messages API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`,
//! form-encoded, HTTP Basic auth. WhatsApp reminders use the approved Content
//! template (`ContentSid` and `ContentVariables`); the same client sends the
//! SMS fallback from `TWILIO_SMS_FROM`.

use async_trait::async_trait;
use serde::Deserialize;

use super::{ErrorClass, Message, Provider, SendError};
use crate::config::Secret;
use crate::domain::PhoneNumber;

pub(crate) struct TwilioProvider {
    http: reqwest::Client,
    url: String,
    account_sid: String,
    auth_token: Secret,
    from: String,
    /// `None`: SMS (text only). `Some`: WhatsApp with this Content template.
    content_sid: Option<String>,
    status_callback: Option<String>,
}

impl TwilioProvider {
    #[allow(clippy::too_many_arguments)]
    fn build(
        http: reqwest::Client,
        base: &str,
        account_sid: &str,
        auth_token: Secret,
        from: String,
        content_sid: Option<String>,
        public_url: Option<&str>,
    ) -> Self {
        Self {
            http,
            url: format!(
                "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
                base.trim_end_matches('/')
            ),
            account_sid: account_sid.to_owned(),
            auth_token,
            from,
            content_sid,
            status_callback: public_url
                .map(|url| format!("{}/webhooks/twilio", url.trim_end_matches('/'))),
        }
    }

    /// WhatsApp through Twilio, from `whatsapp:+…`.
    pub(crate) fn whatsapp(
        http: reqwest::Client,
        base: &str,
        account_sid: &str,
        auth_token: Secret,
        from: &str,
        content_sid: String,
        public_url: Option<&str>,
    ) -> Self {
        let from = if from.starts_with("whatsapp:") {
            from.to_owned()
        } else {
            format!("whatsapp:{from}")
        };
        Self::build(
            http,
            base,
            account_sid,
            auth_token,
            from,
            Some(content_sid),
            public_url,
        )
    }

    /// Plain SMS from `from`.
    pub(crate) fn sms(
        http: reqwest::Client,
        base: &str,
        account_sid: &str,
        auth_token: Secret,
        from: &str,
        public_url: Option<&str>,
    ) -> Self {
        Self::build(
            http,
            base,
            account_sid,
            auth_token,
            from.to_owned(),
            None,
            public_url,
        )
    }

    /// The form fields for `message` to `to`.
    pub(crate) fn form(&self, to: &PhoneNumber, message: &Message) -> Vec<(&'static str, String)> {
        let to = match self.content_sid {
            Some(_) => format!("whatsapp:{}", to.as_str()),
            None => to.as_str().to_owned(),
        };
        let mut form = vec![("To", to), ("From", self.from.clone())];
        match (message, &self.content_sid) {
            // The Content template's variables: {{1}} title, {{2}} due time,
            // {{3}} and {{4}} the quick replies' ids (Done, Snooze).
            (
                Message::Template {
                    title,
                    due,
                    done_payload,
                    snooze_payload,
                },
                Some(content_sid),
            ) => {
                form.push(("ContentSid", content_sid.clone()));
                form.push((
                    "ContentVariables",
                    content_variables(title, due, done_payload, snooze_payload),
                ));
            }
            (
                Message::Interactive {
                    body,
                    done_id,
                    snooze_id,
                },
                Some(content_sid),
            ) => {
                form.push(("ContentSid", content_sid.clone()));
                form.push((
                    "ContentVariables",
                    content_variables(body, "", done_id, snooze_id),
                ));
            }
            (Message::Template { title, due, .. }, None) => {
                form.push(("Body", format!("Reminder: {title}, due {due}")));
            }
            (
                Message::Interactive { body, .. }
                | Message::Text { body }
                | Message::ConfirmButtons { body, .. },
                _,
            ) => {
                form.push(("Body", body.clone()));
            }
            // No buttons or lists without a Content template for each: the
            // words say what to send instead.
            (Message::Undoable { body, .. }, _) => {
                form.push(("Body", format!("{body}\nReply UNDO to remove it.")));
            }
            (Message::List { body, rows, .. }, _) => {
                let mut text = body.clone();
                for row in rows {
                    text.push_str(&format!("\n• {} ({})", row.title, row.description));
                }
                form.push(("Body", text));
            }
            // No reactions through Twilio: the emoji as a text.
            (Message::Reaction { emoji, .. }, _) => {
                form.push(("Body", emoji.clone()));
            }
            // No Content template for it: the words ask for START or STOP,
            // which Twilio's inbound path reads like the buttons.
            (Message::ConfirmTemplate { user, .. }, _) => {
                form.push(("Body", confirm_text(user)));
            }
        }
        if let Some(callback) = &self.status_callback {
            form.push(("StatusCallback", callback.clone()));
        }
        form
    }
}

/// The confirmation as plain text, where no buttons can be sent.
pub(crate) fn confirm_text(user: &str) -> String {
    format!(
        "TodoGenie: reply START to get reminders for {user} here, or STOP if you did not ask for them."
    )
}

fn content_variables(title: &str, due: &str, done: &str, snooze: &str) -> String {
    serde_json::json!({ "1": title, "2": due, "3": done, "4": snooze }).to_string()
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize)]
struct Refused {
    code: Option<i64>,
    #[serde(default)]
    message: String,
}

#[async_trait]
impl Provider for TwilioProvider {
    fn name(&self) -> &'static str {
        "twilio"
    }

    async fn send(&self, to: &PhoneNumber, message: &Message) -> Result<String, SendError> {
        let response = super::traced(self.http.post(&self.url))
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(&self.form(to, message))
            .send()
            .await
            .map_err(|e| SendError::transport(&e))?;
        let (status, retry_after, bytes) = super::read_answer(response).await?;
        if status.is_success() {
            return serde_json::from_slice::<Created>(&bytes)
                .map(|created| created.sid)
                .map_err(|_| SendError {
                    class: ErrorClass::Retryable { retry_after: None },
                    code: None,
                    detail: "a 2xx answer without a sid".into(),
                });
        }
        match serde_json::from_slice::<Refused>(&bytes) {
            Ok(Refused {
                code: Some(code),
                message,
            }) => {
                let class =
                    classify_twilio_code(code, status.as_u16()).with_retry_after(retry_after);
                Err(SendError {
                    class,
                    code: Some(code),
                    detail: message,
                })
            }
            _ => Err(SendError::http(status)),
        }
    }
}

/// Twilio's error codes, mapped onto the same classes as Meta's.
pub(crate) fn classify_twilio_code(code: i64, http_status: u16) -> ErrorClass {
    match code {
        20_003 | 20_005 | 20_404 if http_status == 401 || code != 20_404 => ErrorClass::Credentials,
        20_429 | 63_018 | 14_107 | 63_038 => ErrorClass::Retryable { retry_after: None },
        // Freeform message outside the 24-hour window.
        63_016 => ErrorClass::OutsideWindow,
        // The recipient replied STOP.
        21_610 => ErrorClass::OptedOut,
        _ if http_status >= 500 => ErrorClass::Retryable { retry_after: None },
        _ => ErrorClass::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(content_sid: Option<&str>) -> TwilioProvider {
        let http = reqwest::Client::new();
        let token = Secret::new("token");
        match content_sid {
            Some(sid) => TwilioProvider::whatsapp(
                http,
                "https://api.twilio.com",
                "AC1",
                token,
                "+14155238886",
                sid.into(),
                Some("https://n.example"),
            ),
            None => TwilioProvider::sms(
                http,
                "https://api.twilio.com/",
                "AC1",
                token,
                "+15005550006",
                None,
            ),
        }
    }

    #[test]
    fn whatsapp_reminders_use_the_content_template_and_sms_plain_text() {
        let to = PhoneNumber::parse("+14155550123").unwrap();
        let reminder = Message::Template {
            title: "Pay rent".into(),
            due: "Sat 21 Nov 2026, 09:00 CET".into(),
            done_payload: "done:1".into(),
            snooze_payload: "snooze:1".into(),
        };
        let whatsapp = provider(Some("HX123"));
        assert_eq!(
            whatsapp.url,
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
        );
        let form = whatsapp.form(&to, &reminder);
        let get = |name: &str| {
            form.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("To").unwrap(), "whatsapp:+14155550123");
        assert_eq!(get("From").unwrap(), "whatsapp:+14155238886");
        assert_eq!(get("ContentSid").unwrap(), "HX123");
        let variables: serde_json::Value =
            serde_json::from_str(&get("ContentVariables").unwrap()).unwrap();
        assert_eq!(variables["1"], "Pay rent");
        assert_eq!(variables["3"], "done:1");
        assert_eq!(
            get("StatusCallback").unwrap(),
            "https://n.example/webhooks/twilio"
        );

        let sms = provider(None).form(&to, &Message::Text { body: "hi".into() });
        assert!(sms.contains(&("To", "+14155550123".into())));
        assert!(sms.contains(&("Body", "hi".into())));
        assert!(!sms.iter().any(|(n, _)| *n == "ContentSid"));
        assert_eq!(classify_twilio_code(20_003, 401), ErrorClass::Credentials);
        assert_eq!(classify_twilio_code(63_016, 400), ErrorClass::OutsideWindow);
        assert_eq!(classify_twilio_code(21_211, 400), ErrorClass::Permanent);
    }

    #[test]
    fn undo_and_lists_go_as_words_through_twilio() {
        let to = PhoneNumber::parse("+14155550123").unwrap();
        let body = |message: &Message| {
            let form = provider(Some("HX1")).form(&to, message);
            form.into_iter().find(|(k, _)| *k == "Body").map(|(_, v)| v)
        };
        let undo = Message::Undoable {
            body: "Added: pay rent".into(),
            undo_id: "undo:x".into(),
        };
        assert_eq!(
            body(&undo).unwrap(),
            "Added: pay rent\nReply UNDO to remove it."
        );
        let list = Message::List {
            body: "2 open tasks are due today or overdue.".into(),
            button: "Tasks".into(),
            rows: vec![
                super::super::ListRow {
                    id: "task:a".into(),
                    title: "rent".into(),
                    description: "Due Mon 30 Nov 2026, 18:00 CET".into(),
                },
                super::super::ListRow {
                    id: "task:b".into(),
                    title: "bins".into(),
                    description: "Overdue since Sun 29 Nov 2026, 20:00 CET".into(),
                },
            ],
        };
        let text = body(&list).unwrap();
        assert!(text.contains("\n• rent (Due Mon 30 Nov 2026, 18:00 CET)\n• bins (Overdue"));
    }
}
