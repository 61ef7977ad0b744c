//! Between the wire and the domain, field by field: timestamps, durations,
//! states, priorities and task ids parsed (each error a sentence for the
//! field's violation), and tasks written back as protobuf. Whole tasks from
//! requests are parsed in `task_in`.

use chrono::{DateTime, Utc};
use prost_types::{Duration as PbDuration, Timestamp};
use todogenie_proto::v1 as pb;

use crate::domain::{FieldViolations, Priority, Reminder, Task, TaskState};

/// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, as google.protobuf.Timestamp allows.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

pub(crate) fn timestamp_in(ts: &Timestamp) -> Result<DateTime<Utc>, String> {
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds) || !(0..1_000_000_000).contains(&ts.nanos)
    {
        return Err("is not a valid timestamp (years 1 to 9999, nanos 0 to 999,999,999)".into());
    }
    DateTime::from_timestamp(ts.seconds, ts.nanos.unsigned_abs())
        .ok_or_else(|| "is not a valid timestamp".to_owned())
}

pub(crate) fn timestamp_out(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A google.protobuf.Duration within ±10,000 years, as the type allows.
pub(crate) fn duration_in(d: &PbDuration) -> Result<chrono::Duration, String> {
    const MAX_SECONDS: i64 = 315_576_000_000;
    let same_sign = d.seconds == 0 || d.nanos == 0 || (d.seconds > 0) == (d.nanos > 0);
    if d.seconds.unsigned_abs() > MAX_SECONDS.unsigned_abs()
        || d.nanos.unsigned_abs() >= 1_000_000_000
        || !same_sign
    {
        return Err("is not a valid duration".into());
    }
    Ok(chrono::Duration::seconds(d.seconds) + chrono::Duration::nanoseconds(i64::from(d.nanos)))
}

fn duration_out(seconds: i64) -> PbDuration {
    PbDuration { seconds, nanos: 0 }
}

/// Proto enum number → state. `None` for UNSPECIFIED.
pub(crate) fn state_in(raw: i32) -> Result<Option<TaskState>, String> {
    use pb::TaskState as P;
    match P::try_from(raw) {
        Ok(P::Unspecified) => Ok(None),
        Ok(P::Pending) => Ok(Some(TaskState::Pending)),
        Ok(P::InProgress) => Ok(Some(TaskState::InProgress)),
        Ok(P::Completed) => Ok(Some(TaskState::Completed)),
        Ok(P::Archived) => Ok(Some(TaskState::Archived)),
        Ok(P::Cancelled) => Ok(Some(TaskState::Cancelled)),
        Err(_) => Err(format!("{raw} is not a TaskState")),
    }
}

fn state_out(state: TaskState) -> pb::TaskState {
    match state {
        TaskState::Pending => pb::TaskState::Pending,
        TaskState::InProgress => pb::TaskState::InProgress,
        TaskState::Completed => pb::TaskState::Completed,
        TaskState::Archived => pb::TaskState::Archived,
        TaskState::Cancelled => pb::TaskState::Cancelled,
    }
}

/// Proto enum number → priority. `None` for UNSPECIFIED.
pub(crate) fn priority_in(raw: i32) -> Result<Option<Priority>, String> {
    match pb::Priority::try_from(raw) {
        Ok(pb::Priority::Unspecified) => Ok(None),
        Ok(pb::Priority::Low) => Ok(Some(Priority::Low)),
        Ok(pb::Priority::Medium) => Ok(Some(Priority::Medium)),
        Ok(pb::Priority::High) => Ok(Some(Priority::High)),
        Err(_) => Err(format!("{raw} is not a Priority")),
    }
}

fn priority_out(priority: Priority) -> pb::Priority {
    match priority {
        Priority::Low => pb::Priority::Low,
        Priority::Medium => pb::Priority::Medium,
        Priority::High => pb::Priority::High,
    }
}
pub(crate) fn task_out(task: &Task) -> pb::Task {
    use pb::reminder::When;
    pb::Task {
        id: task.id.to_string(),
        owner: task.owner.as_str().to_owned(),
        title: task.title.as_str().to_owned(),
        description: task.description.as_str().to_owned(),
        state: state_out(task.state).into(),
        priority: priority_out(task.priority).into(),
        tags: task.tags.as_slice().to_vec(),
        due_time: task.due_time.map(timestamp_out),
        time_zone: task.time_zone.name().to_owned(),
        recurrence: task.recurrence.as_str().to_owned(),
        reminders: task
            .reminders
            .as_slice()
            .iter()
            .map(|r| pb::Reminder {
                when: Some(match *r {
                    Reminder::At(t) => When::AtTime(timestamp_out(t)),
                    Reminder::BeforeDueSecs(s) => When::BeforeDue(duration_out(s)),
                }),
            })
            .collect(),
        series_id: task.series_id.map(|id| id.to_string()).unwrap_or_default(),
        create_time: Some(timestamp_out(task.create_time)),
        update_time: Some(timestamp_out(task.update_time)),
        complete_time: task.complete_time.map(timestamp_out),
        etag: task.etag(),
        next_reminder_time: task.next_reminder_time.map(timestamp_out),
    }
}

/// A task id from a request: a UUID.
pub(crate) fn task_id_in(field: &str, raw: &str) -> Result<uuid::Uuid, FieldViolations> {
    raw.parse::<uuid::Uuid>()
        .map_err(|_| FieldViolations::single(field, "must be a task id (a UUID)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_the_protobuf_range_are_refused() {
        assert!(timestamp_in(&Timestamp {
            seconds: MAX_SECONDS + 1,
            nanos: 0
        })
        .is_err());
        assert!(timestamp_in(&Timestamp {
            seconds: 0,
            nanos: -1
        })
        .is_err());
        assert!(timestamp_in(&Timestamp {
            seconds: 0,
            nanos: 999_999_999
        })
        .is_ok());
    }

    #[test]
    fn durations_with_mixed_signs_are_refused() {
        assert!(duration_in(&PbDuration {
            seconds: 1,
            nanos: -1
        })
        .is_err());
        assert_eq!(
            duration_in(&PbDuration {
                seconds: 90,
                nanos: 0
            })
            .unwrap()
            .num_seconds(),
            90
        );
        assert!(duration_in(&PbDuration {
            seconds: i64::MIN,
            nanos: i32::MIN
        })
        .is_err());
    }
}
