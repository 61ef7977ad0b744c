//! The Task in protobuf's JSON mapping (lowerCamelCase names, enum names as
//! strings, RFC 3339 times, durations as "3600s"), as events carry it, and
//! back to protobuf for WatchTasks. Every field is written, except unset
//! times (README, "Behaviour where the contract is silent").

use serde::{Deserialize, Serialize};
use todogenie_proto::v1 as pb;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskJson {
    pub id: String,
    pub owner: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub state: String,
    #[serde(default)]
    pub priority: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_time: Option<String>,
    #[serde(default)]
    pub time_zone: String,
    #[serde(default)]
    pub recurrence: String,
    #[serde(default)]
    pub reminders: Vec<ReminderJson>,
    #[serde(default)]
    pub series_id: String,
    #[serde(default)]
    pub create_time: String,
    pub update_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<String>,
    #[serde(default)]
    pub etag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_reminder_time: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReminderJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_due: Option<String>,
}

fn timestamp(raw: &str) -> Option<prost_types::Timestamp> {
    let time = chrono::DateTime::parse_from_rfc3339(raw).ok()?.to_utc();
    Some(prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    })
}

impl From<&TaskJson> for pb::Task {
    /// Values task-service wrote; anything unreadable is left at its default.
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
            next_reminder_time: json.next_reminder_time.as_deref().and_then(timestamp),
        }
    }
}
