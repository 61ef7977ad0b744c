//! Between the wire and the domain: protobuf messages are parsed into checked
//! domain values (every bad field collected and named), and tasks are written
//! back as protobuf.

use chrono::{DateTime, Utc};
use prost_types::{Duration as PbDuration, FieldMask, Timestamp};
use todogenie_proto::v1 as pb;

use crate::domain::{
    Description, FieldViolations, Priority, Recurrence, Reminder, Reminders, Tags, Task, TaskPatch,
    TaskSpec, TaskState, TaskTitle, TimeZone, UserId,
};

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

fn tags_in(v: &mut FieldViolations, field: &str, raw: &[String]) -> Option<Tags> {
    match Tags::parse(raw) {
        Ok(tags) => Some(tags),
        Err(errors) => {
            for (index, description) in errors {
                match index {
                    Some(i) => v.add(format!("{field}[{i}]"), description),
                    None => v.add(field, description),
                }
            }
            None
        }
    }
}

fn reminders_in(v: &mut FieldViolations, raw: &[pb::Reminder]) -> Option<Reminders> {
    use pb::reminder::When;
    if raw.len() > Reminders::MAX_COUNT {
        // Over the limit is one violation, not one per reminder.
        v.add(
            "task.reminders",
            format!(
                "at most {} reminders, got {}",
                Reminders::MAX_COUNT,
                raw.len()
            ),
        );
        return None;
    }
    let mut reminders = Vec::with_capacity(raw.len());
    let mut ok = true;
    for (i, reminder) in raw.iter().enumerate() {
        let parsed = match &reminder.when {
            Some(When::AtTime(ts)) => timestamp_in(ts)
                .map(|t| Reminder::At(crate::domain::to_stored_precision(t)))
                .map_err(|e| (format!("task.reminders[{i}].at_time"), e)),
            Some(When::BeforeDue(d)) => duration_in(d)
                .map(|d| Reminder::BeforeDueSecs(d.num_seconds()))
                .map_err(|e| (format!("task.reminders[{i}].before_due"), e)),
            None => Err((
                format!("task.reminders[{i}]"),
                "set at_time or before_due".to_owned(),
            )),
        };
        match parsed {
            Ok(r) => reminders.push(r),
            Err((field, e)) => {
                v.add(field, e);
                ok = false;
            }
        }
    }
    match Reminders::parse(reminders) {
        Ok(reminders) if ok => Some(reminders),
        Ok(_) => None,
        Err(errors) => {
            for (index, description) in errors {
                match index {
                    Some(i) => v.add(format!("task.reminders[{i}].before_due"), description),
                    None => v.add("task.reminders", description),
                }
            }
            None
        }
    }
}

fn optional_timestamp(
    v: &mut FieldViolations,
    field: &str,
    raw: Option<&Timestamp>,
) -> Option<Option<DateTime<Utc>>> {
    match raw {
        None => Some(None),
        Some(ts) => v.check(field, timestamp_in(ts)).map(Some),
    }
}

/// CreateTask's task. `default_owner` is the caller, used when none is named.
pub(crate) fn task_spec_in(
    task: &pb::Task,
    default_owner: &UserId,
) -> Result<TaskSpec, FieldViolations> {
    let mut v = FieldViolations::new();
    let owner = if task.owner.is_empty() {
        Some(default_owner.clone())
    } else {
        v.check("task.owner", UserId::parse(&task.owner))
    };
    let title = v.check("task.title", TaskTitle::parse(&task.title));
    let description = v.check("task.description", Description::parse(&task.description));
    let state = v.check("task.state", state_in(task.state));
    let priority = v.check("task.priority", priority_in(task.priority));
    let tags = tags_in(&mut v, "task.tags", &task.tags);
    let due_time = optional_timestamp(&mut v, "task.due_time", task.due_time.as_ref());
    let time_zone = v.check("task.time_zone", TimeZone::parse(&task.time_zone));
    let recurrence = v.check("task.recurrence", Recurrence::parse(&task.recurrence));
    let reminders = reminders_in(&mut v, &task.reminders);

    match (
        owner,
        title,
        description,
        state,
        priority,
        tags,
        due_time,
        time_zone,
        recurrence,
        reminders,
    ) {
        (
            Some(owner),
            Some(title),
            Some(description),
            Some(state),
            Some(priority),
            Some(tags),
            Some(due_time),
            Some(time_zone),
            Some(recurrence),
            Some(reminders),
        ) if v.is_empty() => Ok(TaskSpec {
            owner,
            title,
            description,
            state: state.unwrap_or(TaskState::Pending),
            priority: priority.unwrap_or(Priority::Medium),
            tags,
            due_time,
            time_zone,
            recurrence,
            reminders,
        }),
        _ => Err(v),
    }
}

/// The mutable fields, in the contract's order.
pub(crate) const MUTABLE_PATHS: [&str; 9] = [
    "title",
    "description",
    "state",
    "priority",
    "tags",
    "due_time",
    "time_zone",
    "recurrence",
    "reminders",
];

/// UpdateTask's task and mask as a patch. An empty mask names every mutable
/// field; there an unspecified state or priority means "keep" and "medium".
pub(crate) fn task_patch_in(
    task: &pb::Task,
    mask: Option<&FieldMask>,
) -> Result<TaskPatch, FieldViolations> {
    let mut v = FieldViolations::new();
    let named: Vec<&str> = mask
        .map(|m| m.paths.iter().map(String::as_str).collect())
        .unwrap_or_default();
    if named.len() > MUTABLE_PATHS.len() {
        v.add(
            "update_mask",
            format!(
                "names at most the {} mutable fields, got {} paths",
                MUTABLE_PATHS.len(),
                named.len()
            ),
        );
        return Err(v);
    }
    let replace_all = named.is_empty();
    let paths: Vec<&str> = if replace_all {
        MUTABLE_PATHS.to_vec()
    } else {
        named
    };

    let mut patch = TaskPatch::default();
    for path in paths {
        match path {
            "title" => patch.title = v.check("task.title", TaskTitle::parse(&task.title)),
            "description" => {
                patch.description =
                    v.check("task.description", Description::parse(&task.description));
            }
            "state" => match v.check("task.state", state_in(task.state)) {
                Some(Some(state)) => patch.state = Some(state),
                Some(None) if !replace_all => {
                    v.add("task.state", "must be set when update_mask names it");
                }
                _ => {}
            },
            "priority" => {
                patch.priority = v
                    .check("task.priority", priority_in(task.priority))
                    .map(|p| p.unwrap_or(Priority::Medium));
            }
            "tags" => patch.tags = tags_in(&mut v, "task.tags", &task.tags),
            "due_time" => {
                patch.due_time =
                    optional_timestamp(&mut v, "task.due_time", task.due_time.as_ref());
            }
            "time_zone" => {
                patch.time_zone = v.check("task.time_zone", TimeZone::parse(&task.time_zone))
            }
            "recurrence" => {
                patch.recurrence = v.check("task.recurrence", Recurrence::parse(&task.recurrence));
            }
            "reminders" => patch.reminders = reminders_in(&mut v, &task.reminders),
            other => v.add(
                "update_mask",
                format!(
                    "{:?} is not a mutable field; use {}",
                    other.chars().take(64).collect::<String>(),
                    MUTABLE_PATHS.join(", ")
                ),
            ),
        }
    }
    v.into_result().map(|()| patch)
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

    #[test]
    fn every_bad_field_of_a_new_task_is_named() {
        let task = pb::Task {
            title: " ".into(),
            priority: 42,
            time_zone: "Nowhere/Land".into(),
            tags: vec!["ok".into(), "".into()],
            ..pb::Task::default()
        };
        let alice = UserId::parse("alice").unwrap();
        let violations = task_spec_in(&task, &alice).unwrap_err();
        let fields: Vec<&str> = violations.iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "task.title",
                "task.priority",
                "task.tags[1]",
                "task.time_zone"
            ]
        );
    }

    #[test]
    fn an_unknown_mask_path_is_named() {
        let mask = FieldMask {
            paths: vec!["owner".into()],
        };
        let violations = task_patch_in(&pb::Task::default(), Some(&mask)).unwrap_err();
        assert_eq!(violations.iter().next().unwrap().0, "update_mask");
    }
}
