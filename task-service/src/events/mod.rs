//! Task events: what each committed change or due reminder publishes
//! (CONTRACT §4), rendered as CloudEvents 1.0 structured JSON.

mod task_json;
mod traceparent;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use task_json::TaskJson;
pub use traceparent::TraceParent;

use crate::domain::{Task, TaskState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    fn word(self) -> &'static str {
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

    /// A change that moves a task into COMPLETED is `task.completed`; any
    /// other change is `task.updated`.
    pub fn of_change(before: TaskState, after: TaskState) -> Self {
        if after == TaskState::Completed && before != TaskState::Completed {
            EventKind::Completed
        } else {
            EventKind::Updated
        }
    }
}

/// One event, ready for the outbox.
#[derive(Debug, Clone)]
pub struct TaskEvent {
    pub id: Uuid,
    pub kind: EventKind,
    pub task: Task,
    pub time: DateTime<Utc>,
    /// For `task.due`: the reminder's fire time.
    pub reminder_time: Option<DateTime<Utc>>,
    pub traceparent: TraceParent,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    pub task: TaskJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_time: Option<String>,
}

/// The CloudEvents envelope, structured mode.
#[derive(Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub subject: String,
    pub time: String,
    pub datacontenttype: String,
    pub data: EventData,
}

pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl TaskEvent {
    pub fn new(
        kind: EventKind,
        task: &Task,
        time: DateTime<Utc>,
        traceparent: TraceParent,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind,
            task: task.clone(),
            time,
            reminder_time: None,
            traceparent,
        }
    }

    /// A reminder of `task` that fell due at `reminder_time`, in a new trace.
    pub fn due(task: &Task, reminder_time: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self {
            reminder_time: Some(reminder_time),
            ..Self::new(EventKind::Due, task, now, TraceParent::new_trace())
        }
    }

    pub fn to_cloudevent(&self) -> CloudEvent {
        CloudEvent {
            specversion: "1.0".into(),
            id: self.id.to_string(),
            kind: self.kind.cloudevent_type(),
            source: "/task-service".into(),
            subject: self.task.id.to_string(),
            time: rfc3339(self.time),
            datacontenttype: "application/json".into(),
            data: EventData {
                task: TaskJson::from(&self.task),
                reminder_time: self.reminder_time.map(rfc3339),
            },
        }
    }

    /// The message body: CloudEvents structured JSON.
    pub fn payload(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_cloudevent()).expect("an event always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;

    #[test]
    fn an_event_is_a_cloudevent_with_the_task_in_proto_json() {
        let spec = TaskSpec {
            owner: UserId::parse("alice").unwrap(),
            title: TaskTitle::parse("Pay rent").unwrap(),
            description: Description::default(),
            state: TaskState::Pending,
            priority: Priority::High,
            tags: Tags::parse(&["home".to_string()]).unwrap(),
            due_time: Some(DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
            time_zone: TimeZone::parse("Europe/Berlin").unwrap(),
            recurrence: Recurrence::default(),
            reminders: Reminders::parse(vec![Reminder::BeforeDueSecs(3600)]).unwrap(),
        };
        let task = Task::new(spec, Utc::now()).unwrap();
        let event = TaskEvent::due(&task, task.due_time.unwrap(), Utc::now());
        let json: serde_json::Value = serde_json::from_slice(&event.payload()).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "todogenie.task.due.v1");
        assert_eq!(json["source"], "/task-service");
        assert_eq!(json["subject"], task.id.to_string());
        assert_eq!(json["datacontenttype"], "application/json");
        assert_eq!(json["data"]["reminderTime"], "2027-01-15T08:00:00Z");
        let t = &json["data"]["task"];
        assert_eq!(t["state"], "TASK_STATE_PENDING");
        assert_eq!(t["priority"], "PRIORITY_HIGH");
        assert_eq!(t["timeZone"], "Europe/Berlin");
        assert_eq!(t["dueTime"], "2027-01-15T08:00:00Z");
        assert_eq!(t["reminders"][0]["beforeDue"], "3600s");
        assert_eq!(event.kind.routing_key(), "task.due");
    }
}
