//! A task event as task-service publishes it (README, "Events": CloudEvents 1.0, structured
//! JSON), parsed into what the notifier needs. Anything else is refused with
//! the reason, and the consumer dead-letters it.

use chrono::{DateTime, Utc};
use todogenie_common::auth::UserId;
pub(crate) use todogenie_common::events::EventKind;
use todogenie_common::events::{parse_time, CloudEvent};
use uuid::Uuid;

/// task-service's longest title.
const MAX_TITLE_CHARS: usize = 500;

const STATES: [&str; 5] = [
    "TASK_STATE_PENDING",
    "TASK_STATE_IN_PROGRESS",
    "TASK_STATE_COMPLETED",
    "TASK_STATE_ARCHIVED",
    "TASK_STATE_CANCELLED",
];

/// What one event says about one task.
#[derive(Debug, Clone)]
pub(crate) struct TaskEvent {
    pub id: Uuid,
    pub kind: EventKind,
    pub task_id: Uuid,
    pub owner: UserId,
    pub title: String,
    /// `TASK_STATE_*`.
    pub state: String,
    pub due_time: Option<DateTime<Utc>>,
    /// Orders news about one task: its version (the etag), which grows with
    /// every change; older never overwrites newer.
    pub version: i64,
    /// For `Due`: the reminder that fired.
    pub reminder_time: Option<DateTime<Utc>>,
    /// The trace its message carried (`traceparent` header), when traces are
    /// exported.
    pub traceparent: Option<String>,
}

impl TaskEvent {
    /// Parses a message body; the error says what is wrong with it.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, String> {
        let envelope = CloudEvent::from_json(body)?;
        let id = Uuid::parse_str(&envelope.id).map_err(|_| "id is not a UUID".to_owned())?;
        let kind = envelope
            .event_kind()
            .ok_or_else(|| format!("unknown event type {:?}", envelope.kind))?;
        let task = envelope.data.task;
        // What PostgreSQL cannot store, or task-service never sends, is
        // refused here, so it is dead-lettered rather than retried.
        if task.title.contains('\0') || task.title.chars().count() > MAX_TITLE_CHARS {
            return Err(format!(
                "data.task.title must be at most {MAX_TITLE_CHARS} characters without NUL"
            ));
        }
        if !STATES.contains(&task.state.as_str()) {
            return Err(format!(
                "data.task.state {:?} is not a TaskState",
                task.state.chars().take(40).collect::<String>()
            ));
        }
        let version = task
            .etag
            .parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .ok_or("data.task.etag is not a task version")?;
        let reminder_time = match (&envelope.data.reminder_time, kind) {
            (Some(raw), _) => Some(parse_time("data.reminderTime", raw)?),
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
                .map(|raw| parse_time("data.task.dueTime", raw))
                .transpose()?,
            version,
            reminder_time,
            traceparent: None,
        })
    }

    /// The task's state as followed by the notifier: its `state`, or
    /// `DELETED`.
    pub(crate) fn followed_state(&self) -> &str {
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

    use todogenie_common::events::{CloudEvent, TaskJson};

    fn due_event(reminder: Option<DateTime<Utc>>) -> Vec<u8> {
        let task = TaskJson {
            id: Uuid::now_v7().to_string(),
            owner: "alice".into(),
            title: "Pay rent".into(),
            state: "TASK_STATE_PENDING".into(),
            due_time: Some("2026-11-21T09:00:00Z".into()),
            update_time: "2026-11-20T09:00:00.123456Z".into(),
            etag: "3".into(),
            ..TaskJson::default()
        };
        CloudEvent::new(Uuid::now_v7(), EventKind::Due, task, Utc::now(), reminder).to_json()
    }

    #[test]
    fn a_due_event_parses_and_a_broken_one_says_why() {
        let event = TaskEvent::parse(&due_event(Some(Utc::now()))).unwrap();
        assert_eq!(event.kind, EventKind::Due);
        assert_eq!(event.owner.as_str(), "alice");
        assert_eq!(event.title, "Pay rent");
        assert!(event.reminder_time.is_some());
        let missing = TaskEvent::parse(&due_event(None)).unwrap_err();
        assert!(missing.contains("reminderTime"), "{missing}");
        assert!(TaskEvent::parse(b"{")
            .unwrap_err()
            .contains("not a task event"));
        assert_eq!(event.version, 3);
        let nul = String::from_utf8(due_event(Some(Utc::now())))
            .unwrap()
            .replace("Pay rent", "Pay\\u0000rent");
        assert!(TaskEvent::parse(nul.as_bytes())
            .unwrap_err()
            .contains("without NUL"));
    }
}
