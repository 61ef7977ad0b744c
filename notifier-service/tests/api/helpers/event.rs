//! `TestEvent`: a task event as task-service publishes it, in the shared
//! event contract, for tests that publish to the notifier directly.

use todogenie_common::events::{CloudEvent, EventKind, TaskJson};

/// A task event as task-service publishes it.
#[derive(Debug, Clone)]
pub struct TestEvent {
    pub id: uuid::Uuid,
    pub kind: EventKind,
    pub task_id: uuid::Uuid,
    pub owner: String,
    pub title: String,
    pub state: &'static str,
    pub update_time: chrono::DateTime<chrono::Utc>,
    pub reminder_time: chrono::DateTime<chrono::Utc>,
    /// The task's version (its etag): what orders news about it.
    pub version: i64,
}

impl TestEvent {
    /// A `task.due` for a new task of `owner`, its reminder firing now.
    pub fn due(owner: &str, title: &str) -> TestEvent {
        let now = chrono::Utc::now();
        TestEvent {
            id: uuid::Uuid::now_v7(),
            kind: EventKind::Due,
            task_id: uuid::Uuid::now_v7(),
            owner: owner.into(),
            title: title.into(),
            state: "TASK_STATE_PENDING",
            update_time: now - chrono::Duration::minutes(5),
            reminder_time: now,
            version: 1,
        }
    }

    /// Another event about the same task: a change, so its version is the
    /// next (a deletion reports the task as it was: the same version).
    pub fn then(&self, kind: EventKind, state: &'static str) -> TestEvent {
        TestEvent {
            id: uuid::Uuid::now_v7(),
            kind,
            state,
            update_time: chrono::Utc::now(),
            version: if kind == EventKind::Deleted {
                self.version
            } else {
                self.version + 1
            },
            ..self.clone()
        }
    }

    /// The message body, in the shared event contract.
    pub fn body(&self) -> Vec<u8> {
        let rfc = todogenie_common::events::rfc3339;
        let task = TaskJson {
            id: self.task_id.to_string(),
            owner: self.owner.clone(),
            title: self.title.clone(),
            state: self.state.into(),
            priority: "PRIORITY_MEDIUM".into(),
            due_time: Some(rfc(self.reminder_time)),
            time_zone: "UTC".into(),
            create_time: rfc(self.update_time),
            update_time: rfc(self.update_time),
            etag: self.version.to_string(),
            ..TaskJson::default()
        };
        let reminder = (self.kind == EventKind::Due).then_some(self.reminder_time);
        CloudEvent::new(self.id, self.kind, task, chrono::Utc::now(), reminder).to_json()
    }
}
