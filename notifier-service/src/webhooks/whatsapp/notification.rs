//! What a Cloud API notification body says: its JSON shape, and the
//! reports it holds (statuses, button presses, texts), with the items that
//! cannot be recorded counted rather than failing the delivery.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::PhoneNumber;
use crate::domain::ReportKind;
use crate::store::inbound::Report;
use crate::webhooks::{parse_button, text_detail, text_kind, unrecordable};

#[derive(Deserialize)]
struct Envelope {
    object: String,
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    value: ChangeValue,
}

#[derive(Deserialize)]
struct ChangeValue {
    #[serde(default)]
    messages: Vec<InboundMessage>,
    #[serde(default)]
    statuses: Vec<StatusUpdate>,
}

#[derive(Deserialize)]
struct InboundMessage {
    from: String,
    id: String,
    timestamp: String,
    #[serde(rename = "type")]
    kind: String,
    text: Option<Text>,
    interactive: Option<Interactive>,
    button: Option<Button>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

#[derive(Deserialize)]
struct Interactive {
    button_reply: Option<ButtonReply>,
    list_reply: Option<ButtonReply>,
}

#[derive(Deserialize)]
struct ButtonReply {
    id: String,
}

#[derive(Deserialize)]
struct Button {
    payload: String,
}

#[derive(Deserialize)]
struct StatusUpdate {
    id: String,
    status: String,
    timestamp: String,
    #[serde(default)]
    errors: Vec<StatusError>,
}

#[derive(Deserialize)]
struct StatusError {
    code: i64,
    #[serde(default)]
    title: String,
}

fn unix_time(raw: &str) -> DateTime<Utc> {
    raw.parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .unwrap_or_else(Utc::now)
}

/// What a notification body says: the reports to record and what was left
/// out of them.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub reports: Vec<Report>,
    pub left_out: LeftOut,
}

/// The items of one body that cannot be recorded. Logged once per body, not
/// once per item: a signed body of 1 MiB holds thousands of them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LeftOut {
    pub items: usize,
    /// Why the first was left out: lengths and the message's type (at most
    /// 32 characters), never ids or numbers.
    pub first: Option<String>,
}

impl LeftOut {
    fn add(&mut self, why: String) {
        self.items += 1;
        self.first.get_or_insert(why);
    }

    pub fn log(&self) {
        if let Some(first) = &self.first {
            tracing::warn!(
                items = self.items,
                "left out {} item(s) of a WhatsApp webhook; the first: {first}",
                self.items
            );
        }
    }
}

/// What a notification body says, or why it is not the Cloud API's shape.
pub(crate) fn parse(body: &[u8]) -> Result<Parsed, String> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if envelope.object != "whatsapp_business_account" {
        return Err(format!(
            "object {:?} is not whatsapp_business_account",
            envelope.object
        ));
    }
    let mut reports = Vec::new();
    let mut left_out = LeftOut::default();
    for change in envelope.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            continue;
        }
        for status in change.value.statuses {
            // One report that cannot be recorded is left out, not the
            // delivery: Meta would resend it, and the others with it, for days.
            if let Some(why) = unrecordable(&status.id, Some(&status.status)) {
                left_out.add(format!("a status report with {why}"));
                continue;
            }
            reports.push(Report {
                key: format!("meta:status:{}:{}", status.id, status.status),
                provider: "meta",
                kind: ReportKind::Status,
                from_number: None,
                error: status
                    .errors
                    .first()
                    .map(|e| format!("{}: {}", e.code, e.title)),
                reference: Some(status.id),
                detail: Some(status.status),
                time: unix_time(&status.timestamp),
            });
        }
        for message in change.value.messages {
            if let Some(why) = unrecordable(&message.id, None) {
                left_out.add(format!(
                    "an inbound {:.32} message with {why}",
                    message.kind
                ));
                continue;
            }
            let Ok(from) = PhoneNumber::from_provider(&message.from) else {
                left_out.add(format!(
                    "an inbound {:.32} message from a number that is not E.164",
                    message.kind
                ));
                continue;
            };
            let button = message
                .interactive
                .and_then(|i| i.button_reply.or(i.list_reply))
                .map(|reply| reply.id)
                .or(message.button.map(|b| b.payload));
            let (kind, reference, detail) = match (button, message.text) {
                (Some(payload), _) => {
                    let (kind, reference) = parse_button(&payload);
                    (kind, reference, None)
                }
                (None, Some(text)) => {
                    let kind = text_kind(&text.body);
                    (kind, None, text_detail(kind, &text.body))
                }
                (None, None) => (ReportKind::Text, None, None),
            };
            reports.push(Report {
                key: format!("meta:message:{}", message.id),
                provider: "meta",
                kind,
                from_number: Some(from),
                reference,
                detail,
                error: None,
                time: unix_time(&message.timestamp),
            });
        }
    }
    Ok(Parsed { reports, left_out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_texts_and_statuses_become_reports() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
            "messaging_product":"whatsapp",
            "messages":[
              {"from":"14155550123","id":"wamid.A","timestamp":"1700000000","type":"interactive",
               "interactive":{"type":"button_reply","button_reply":{"id":"done:0191e0b4-7d2c-7d4e-8f00-000000000001","title":"Done"}}},
              {"from":"14155550123","id":"wamid.B","timestamp":"1700000001","type":"button",
               "button":{"payload":"snooze:0191e0b4-7d2c-7d4e-8f00-000000000001","text":"Snooze"}},
              {"from":"14155550123","id":"wamid.C","timestamp":"1700000002","type":"text","text":{"body":" stop "}}],
            "statuses":[{"id":"wamid.X","status":"failed","timestamp":"1700000003","recipient_id":"14155550123",
               "errors":[{"code":131026,"title":"Message undeliverable"}]}]}}]}]}"#;
        let Parsed { reports, left_out } = parse(body).unwrap();
        assert_eq!(left_out, LeftOut::default());
        let kinds: Vec<ReportKind> = reports.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                ReportKind::Status,
                ReportKind::Done,
                ReportKind::Snooze,
                ReportKind::Stop
            ]
        );
        assert_eq!(
            reports[0].error.as_deref(),
            Some("131026: Message undeliverable")
        );
        assert_eq!(
            reports[1].from_number.as_ref().unwrap().as_str(),
            "+14155550123"
        );
        assert!(parse(br#"{"object":"page","entry":[]}"#).is_err());
        assert!(parse(br#"{"entry":"nope"}"#).is_err());
    }

    #[test]
    fn a_report_that_cannot_be_recorded_is_left_out_alone_and_counted() {
        let long = "w".repeat(crate::webhooks::MAX_PROVIDER_ID_BYTES + 1);
        let widest = "w".repeat(crate::webhooks::MAX_PROVIDER_ID_BYTES);
        let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"changes": [
            {"field": "messages", "value": {
                "messages": [
                    {"from": "14155550123", "id": long, "timestamp": "1", "type": "text", "text": {"body": "a"}},
                    {"from": "14155550123", "id": widest, "timestamp": "1", "type": "text", "text": {"body": "b"}},
                    {"from": "14155550123", "id": "", "timestamp": "1", "type": "text", "text": {"body": "c"}},
                    {"from": "not a number", "id": "wamid.Z", "timestamp": "1", "type": "text", "text": {"body": "d"}}],
                "statuses": [
                    {"id": "wamid.X", "status": "r".repeat(33), "timestamp": "1"},
                    {"id": long, "status": "read", "timestamp": "1"},
                    {"id": "wamid.Y", "status": "read", "timestamp": "1"}]}}]}]});
        let Parsed { reports, left_out } = parse(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(
            left_out,
            LeftOut {
                items: 5,
                first: Some("a status report with a status of 33 bytes (at most 32 taken)".into()),
            },
            "two statuses, three messages; the first reason kept, no value in it"
        );
        let keys: Vec<&str> = reports.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "meta:status:wamid.Y:read".to_owned(),
                format!("meta:message:{widest}")
            ]
        );
    }
}
