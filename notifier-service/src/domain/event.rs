//! A task event as task-service publishes it (§4: CloudEvents 1.0, structured
//! JSON), parsed into what the notifier needs. Anything else is refused with
//! the reason, and the consumer dead-letters it.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use todogenie_common::auth::UserId;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Updated,
    Completed,
    Deleted,
    Due,
}

/// What one event says about one task.
#[derive(Debug, Clone)]
pub struct TaskEvent {
    pub id: Uuid,
    pub kind: EventKind,
    pub task_id: Uuid,
    pub owner: UserId,
    pub title: String,
    /// `TASK_STATE_*`.
    pub state: String,
    pub due_time: Option<DateTime<Utc>>,
    /// Orders news about one task: older never overwrites newer.
    pub version: DateTime<Utc>,
    /// For `Due`: the reminder that fired.
    pub reminder_time: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Envelope {
    specversion: String,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: Data,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    task: TaskJson,
    reminder_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskJson {
    id: String,
    owner: String,
    title: String,
    state: String,
    due_time: Option<String>,
    update_time: String,
}

impl TaskEvent {
    /// Parses a message body; the error says what is wrong with it.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|e| format!("not a task event: {e}"))?;
        if envelope.specversion != "1.0" {
            return Err(format!("specversion {:?} is not 1.0", envelope.specversion));
        }
        let id = Uuid::parse_str(&envelope.id).map_err(|_| "id is not a UUID".to_owned())?;
        let kind = match envelope.kind.as_str() {
            "todogenie.task.created.v1" => EventKind::Created,
            "todogenie.task.updated.v1" => EventKind::Updated,
            "todogenie.task.completed.v1" => EventKind::Completed,
            "todogenie.task.deleted.v1" => EventKind::Deleted,
            "todogenie.task.due.v1" => EventKind::Due,
            other => return Err(format!("unknown event type {other:?}")),
        };
        let task = envelope.data.task;
        let time = |field: &str, raw: &str| {
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| format!("{field} is not an RFC 3339 time"))
        };
        let reminder_time = match (&envelope.data.reminder_time, kind) {
            (Some(raw), _) => Some(time("data.reminderTime", raw)?),
            (None, EventKind::Due) => return Err("task.due without data.reminderTime".into()),
            (None, _) => None,
        };
        Ok(Self {
            id,
            kind,
            task_id: Uuid::parse_str(&task.id).map_err(|_| "data.task.id is not a UUID")?,
            owner: UserId::parse(&task.owner).map_err(|e| format!("data.task.owner {e}"))?,
            title: task.title,
            state: task.state,
            due_time: task
                .due_time
                .as_deref()
                .map(|raw| time("data.task.dueTime", raw))
                .transpose()?,
            version: time("data.task.updateTime", &task.update_time)?,
            reminder_time,
        })
    }

    /// The task's state as followed by the notifier: its `state`, or
    /// `DELETED`.
    pub fn followed_state(&self) -> &str {
        if self.kind == EventKind::Deleted {
            "DELETED"
        } else {
            &self.state
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due_event(reminder: Option<&str>) -> String {
        let reminder = reminder.map_or(String::new(), |r| format!(r#","reminderTime":"{r}""#));
        format!(
            r#"{{"specversion":"1.0","id":"0191e0b4-7d2c-7d4e-8f00-000000000001","type":"todogenie.task.due.v1",
            "source":"/task-service","data":{{"task":{{"id":"0191e0b4-7d2c-7d4e-8f00-000000000002","owner":"alice",
            "title":"Pay rent","state":"TASK_STATE_PENDING","dueTime":"2026-11-21T09:00:00Z",
            "updateTime":"2026-11-20T09:00:00.123456Z"}}{reminder}}}}}"#
        )
    }

    #[test]
    fn a_due_event_parses_and_a_broken_one_says_why() {
        let event = TaskEvent::parse(due_event(Some("2026-11-21T08:50:00Z")).as_bytes()).unwrap();
        assert_eq!(event.kind, EventKind::Due);
        assert_eq!(event.owner.as_str(), "alice");
        assert_eq!(event.title, "Pay rent");
        assert!(event.reminder_time.is_some());
        let missing = TaskEvent::parse(due_event(None).as_bytes()).unwrap_err();
        assert!(missing.contains("reminderTime"), "{missing}");
        assert!(TaskEvent::parse(b"{")
            .unwrap_err()
            .contains("not a task event"));
    }
}
