//! The task event contract, written once for the producer (task-service),
//! the consumer (notifier-service) and both test suites: CloudEvents 1.0 in
//! structured JSON, the five event types, and `data` with the Task in
//! protobuf's JSON mapping (README, "Events").

mod task_json;
mod traceparent;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use task_json::{ReminderJson, TaskJson};
pub use traceparent::TraceParent;

/// The message's content type on AMQP.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";
/// The CloudEvents `source` of every task event.
pub const SOURCE: &str = "/task-service";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Created,
    Updated,
    Completed,
    Deleted,
    Due,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Created,
        EventKind::Updated,
        EventKind::Completed,
        EventKind::Deleted,
        EventKind::Due,
    ];

    /// `created`, `updated`, …
    pub fn word(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Updated => "updated",
            EventKind::Completed => "completed",
            EventKind::Deleted => "deleted",
            EventKind::Due => "due",
        }
    }

    /// `task.created`, …: the AMQP routing key.
    pub fn routing_key(self) -> String {
        format!("task.{}", self.word())
    }

    /// `todogenie.task.created.v1`, …: the CloudEvents `type`.
    pub fn cloudevent_type(self) -> String {
        format!("todogenie.task.{}.v1", self.word())
    }

    pub fn from_cloudevent_type(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.cloudevent_type() == value)
    }
}

/// `data` of every task event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    /// The task after the change (before it, for `task.deleted`).
    pub task: TaskJson,
    /// For `task.due`: the reminder's fire time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_time: Option<String>,
}

/// The CloudEvents envelope, structured mode. A consumer reads what it needs:
/// the attributes it does not use may be absent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub datacontenttype: String,
    pub data: EventData,
}

impl CloudEvent {
    /// An event about `task`, with a fresh id, committed at `time`.
    pub fn new(
        id: uuid::Uuid,
        kind: EventKind,
        task: TaskJson,
        time: DateTime<Utc>,
        reminder_time: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            specversion: "1.0".into(),
            id: id.to_string(),
            kind: kind.cloudevent_type(),
            source: SOURCE.into(),
            subject: task.id.clone(),
            time: rfc3339(time),
            datacontenttype: "application/json".into(),
            data: EventData {
                task,
                reminder_time: reminder_time.map(rfc3339),
            },
        }
    }

    /// The message body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event always serialises")
    }

    /// Reads a message body; the error says what is wrong with it.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        let event: Self =
            serde_json::from_slice(body).map_err(|e| format!("not a task event: {e}"))?;
        if event.specversion != "1.0" {
            return Err(format!("specversion {:?} is not 1.0", event.specversion));
        }
        Ok(event)
    }

    pub fn event_kind(&self) -> Option<EventKind> {
        EventKind::from_cloudevent_type(&self.kind)
    }
}

/// RFC 3339 in UTC with as many fraction digits as the time has.
pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Reads an RFC 3339 time; `field` names it in the error.
pub fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{field} is not an RFC 3339 time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(
                EventKind::from_cloudevent_type(&kind.cloudevent_type()),
                Some(kind)
            );
            assert_eq!(kind.routing_key(), format!("task.{}", kind.word()));
        }
        assert_eq!(
            EventKind::from_cloudevent_type("todogenie.task.due.v2"),
            None
        );
    }

    #[test]
    fn a_broken_body_says_why() {
        assert!(CloudEvent::from_json(b"{")
            .unwrap_err()
            .contains("not a task event"));
        let event = CloudEvent::new(
            uuid::Uuid::nil(),
            EventKind::Due,
            TaskJson::default(),
            Utc::now(),
            None,
        );
        let mut json: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        json["specversion"] = "0.3".into();
        let body = serde_json::to_vec(&json).unwrap();
        assert!(CloudEvent::from_json(&body).unwrap_err().contains("0.3"));
    }
}
