//! CreateTask's task and UpdateTask's task and mask, parsed into a checked
//! `TaskSpec` or `TaskPatch` with every bad field collected and named.

use chrono::{DateTime, Utc};
use prost_types::{FieldMask, Timestamp};
use todogenie_proto::v1 as pb;

use super::convert::{duration_in, priority_in, state_in, timestamp_in};
use crate::domain::{
    Description, FieldViolations, Priority, Recurrence, Reminder, Reminders, Tags, TaskPatch,
    TaskSpec, TaskState, TaskTitle, TimeZone, UserId,
};

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

#[cfg(test)]
mod tests {
    use super::*;

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
