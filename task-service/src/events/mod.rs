//! Task events as task-service produces them: each committed change or due
//! reminder, rendered in the shared contract (`todogenie_common::events`)
//! and handed to the store as a plain outbox record.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use todogenie_common::events::ReminderJson;
pub use todogenie_common::events::{rfc3339, CloudEvent, EventKind, TaskJson, TraceParent};

use crate::domain::{Reminder, Task, TaskState};
use crate::store::outbox::OutboxRecord;

/// A change that moves a task into COMPLETED is `task.completed`; any other
/// change is `task.updated`.
pub fn kind_of_change(before: TaskState, after: TaskState) -> EventKind {
    if after == TaskState::Completed && before != TaskState::Completed {
        EventKind::Completed
    } else {
        EventKind::Updated
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
        CloudEvent::new(
            self.id,
            self.kind,
            task_json(&self.task),
            self.time,
            self.reminder_time,
        )
    }

    /// What the outbox keeps of it: the body and how to route it.
    pub fn to_outbox(&self) -> OutboxRecord {
        OutboxRecord {
            event_id: self.id,
            routing_key: self.kind.routing_key(),
            payload: self.to_cloudevent().to_json(),
            traceparent: self.traceparent.as_str().to_owned(),
            due_time: self.reminder_time,
        }
    }
}

/// The task in protobuf's JSON mapping, every field present except unset
/// times.
pub fn task_json(task: &Task) -> TaskJson {
    TaskJson {
        id: task.id.to_string(),
        owner: task.owner.as_str().to_owned(),
        title: task.title.as_str().to_owned(),
        description: task.description.as_str().to_owned(),
        state: task.state.to_string(),
        priority: task.priority.to_string(),
        tags: task.tags.as_slice().to_vec(),
        due_time: task.due_time.map(rfc3339),
        time_zone: task.time_zone.name().to_owned(),
        recurrence: task.recurrence.as_str().to_owned(),
        reminders: task
            .reminders
            .as_slice()
            .iter()
            .map(|r| match *r {
                Reminder::At(t) => ReminderJson {
                    at_time: Some(rfc3339(t)),
                    before_due: None,
                },
                Reminder::BeforeDueSecs(s) => ReminderJson {
                    at_time: None,
                    before_due: Some(format!("{s}s")),
                },
            })
            .collect(),
        series_id: task.series_id.map(|id| id.to_string()).unwrap_or_default(),
        create_time: rfc3339(task.create_time),
        update_time: rfc3339(task.update_time),
        complete_time: task.complete_time.map(rfc3339),
        etag: task.etag(),
        next_reminder_time: task.next_reminder_time.map(rfc3339),
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
        let record = event.to_outbox();
        let json: serde_json::Value = serde_json::from_slice(&record.payload).unwrap();
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
        assert_eq!(t["description"], "");
        assert!(t.get("completeTime").is_none());
        assert_eq!(record.routing_key, "task.due");
        assert_eq!(record.due_time, task.due_time);
        let back = CloudEvent::from_json(&record.payload).unwrap();
        assert_eq!(back, event.to_cloudevent());
    }
}
