//! The Task in protobuf's JSON mapping (lowerCamelCase names, enum names as
//! strings, RFC 3339 times, durations as "3600s"), as events carry it, and
//! back to protobuf for WatchTasks.

use serde::{Deserialize, Serialize};
use todogenie_proto::v1 as pb;

use super::rfc3339;
use crate::domain::{Reminder, Task};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskJson {
    pub id: String,
    pub owner: String,
    pub title: String,
    pub description: String,
    pub state: String,
    pub priority: String,
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_time: Option<String>,
    pub time_zone: String,
    pub recurrence: String,
    pub reminders: Vec<ReminderJson>,
    pub series_id: String,
    pub create_time: String,
    pub update_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<String>,
    pub etag: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReminderJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_due: Option<String>,
}

impl From<&Task> for TaskJson {
    fn from(task: &Task) -> Self {
        let pb = crate::grpc::convert::task_out(task);
        let state = pb.state().as_str_name().to_owned();
        let priority = pb.priority().as_str_name().to_owned();
        Self {
            id: pb.id,
            owner: pb.owner,
            title: pb.title,
            description: pb.description,
            state,
            priority,
            tags: pb.tags,
            due_time: task.due_time.map(rfc3339),
            time_zone: pb.time_zone,
            recurrence: pb.recurrence,
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
            series_id: pb.series_id,
            create_time: rfc3339(task.create_time),
            update_time: rfc3339(task.update_time),
            complete_time: task.complete_time.map(rfc3339),
            etag: pb.etag,
        }
    }
}

fn timestamp(raw: &str) -> Option<prost_types::Timestamp> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| crate::grpc::convert::timestamp_out(t.to_utc()))
}

impl From<&TaskJson> for pb::Task {
    /// Values this service wrote; anything unreadable is left at its default.
    fn from(json: &TaskJson) -> Self {
        use pb::reminder::When;
        pb::Task {
            id: json.id.clone(),
            owner: json.owner.clone(),
            title: json.title.clone(),
            description: json.description.clone(),
            state: pb::TaskState::from_str_name(&json.state).map_or(0, Into::into),
            priority: pb::Priority::from_str_name(&json.priority).map_or(0, Into::into),
            tags: json.tags.clone(),
            due_time: json.due_time.as_deref().and_then(timestamp),
            time_zone: json.time_zone.clone(),
            recurrence: json.recurrence.clone(),
            reminders: json
                .reminders
                .iter()
                .filter_map(|r| {
                    let when = match (&r.at_time, &r.before_due) {
                        (Some(at), _) => When::AtTime(timestamp(at)?),
                        (None, Some(before)) => When::BeforeDue(prost_types::Duration {
                            seconds: before.trim_end_matches('s').parse().ok()?,
                            nanos: 0,
                        }),
                        (None, None) => return None,
                    };
                    Some(pb::Reminder { when: Some(when) })
                })
                .collect(),
            series_id: json.series_id.clone(),
            create_time: timestamp(&json.create_time),
            update_time: timestamp(&json.update_time),
            complete_time: json.complete_time.as_deref().and_then(timestamp),
            etag: json.etag.clone(),
        }
    }
}
