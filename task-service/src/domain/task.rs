//! The Task aggregate: creating one, changing it under the lifecycle rules,
//! and the schedule invariants that tie due time, recurrence and reminders.

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::{
    Description, FieldViolations, Occurrence, Priority, Recurrence, Reminder, Reminders, Tags,
    TaskState, TaskTitle, TimeZone, UserId,
};

/// Why the rules refuse a change.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// A field, or a combination of fields, is not allowed.
    #[error("invalid argument: {0}")]
    Invalid(FieldViolations),
    /// The change is fine in itself, but not from the task's current state.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
}

impl From<FieldViolations> for Rejected {
    fn from(violations: FieldViolations) -> Self {
        Rejected::Invalid(violations)
    }
}

/// A checked request for a new task.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub owner: UserId,
    pub title: TaskTitle,
    pub description: Description,
    pub state: TaskState,
    pub priority: Priority,
    pub tags: Tags,
    pub due_time: Option<DateTime<Utc>>,
    pub time_zone: TimeZone,
    pub recurrence: Recurrence,
    pub reminders: Reminders,
}

/// The fields an UpdateTask names, each already parsed. `None`: leave as is.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub title: Option<TaskTitle>,
    pub description: Option<Description>,
    pub state: Option<TaskState>,
    pub priority: Option<Priority>,
    pub tags: Option<Tags>,
    pub due_time: Option<Option<DateTime<Utc>>>,
    pub time_zone: Option<TimeZone>,
    pub recurrence: Option<Recurrence>,
    pub reminders: Option<Reminders>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: Uuid,
    pub owner: UserId,
    pub title: TaskTitle,
    pub description: Description,
    pub state: TaskState,
    pub priority: Priority,
    pub tags: Tags,
    pub due_time: Option<DateTime<Utc>>,
    pub time_zone: TimeZone,
    pub recurrence: Recurrence,
    pub reminders: Reminders,
    pub series_id: Option<Uuid>,
    /// The due time the series' dates come from: the first occurrence's, or
    /// the one an occurrence was moved to (the clamped presets keep its day
    /// of month).
    pub series_start: Option<DateTime<Utc>>,
    /// This occurrence's number in its series (the first is 1): COUNT counts it.
    pub occurrence: u32,
    /// Set once the next occurrence exists (or the rule has ended).
    pub recurrence_done: bool,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub complete_time: Option<DateTime<Utc>>,
    pub version: i64,
    /// Output only: the earliest pending fire time while the task is open
    /// (its reminders, the implicit one at the due time, a snooze).
    pub next_reminder_time: Option<DateTime<Utc>>,
}

/// What an accepted change touched, so the caller writes only what it must.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changed {
    /// Anything at all: the row is written and the version bumped.
    pub any: bool,
    /// Due time or reminders: the pending fire times are recomputed.
    pub schedule: bool,
    /// Due time, zone or rule of a recurring task: the rule is tried again.
    pub recurrence: bool,
}

/// PostgreSQL keeps microseconds; so do we, so that what we return is what
/// we store.
pub fn to_stored_precision(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(6)
}

/// The cross-field rules: recurrence and relative reminders need a due time,
/// and an RRULE must be valid from it in the task's zone.
fn check_schedule(
    due: Option<DateTime<Utc>>,
    zone: TimeZone,
    recurrence: &Recurrence,
    reminders: &Reminders,
) -> Result<(), FieldViolations> {
    let mut violations = FieldViolations::new();
    if let Err(e) = recurrence.check_from(due, zone) {
        violations.add("task.recurrence", e);
    }
    for i in reminders.check_from(due) {
        violations.add(
            format!("task.reminders[{i}].before_due"),
            "needs the task to have a due_time",
        );
    }
    violations.into_result()
}

impl Task {
    pub fn new(spec: TaskSpec, now: DateTime<Utc>) -> Result<Self, Rejected> {
        if !matches!(spec.state, TaskState::Pending | TaskState::InProgress) {
            return Err(FieldViolations::single(
                "task.state",
                "a new task is TASK_STATE_PENDING or TASK_STATE_IN_PROGRESS",
            )
            .into());
        }
        check_schedule(
            spec.due_time,
            spec.time_zone,
            &spec.recurrence,
            &spec.reminders,
        )?;
        let now = to_stored_precision(now);
        let id = Uuid::now_v7();
        let mut task = Self {
            id,
            owner: spec.owner,
            title: spec.title,
            description: spec.description,
            state: spec.state,
            priority: spec.priority,
            tags: spec.tags,
            due_time: spec.due_time.map(to_stored_precision),
            time_zone: spec.time_zone,
            // The first occurrence names the series it starts.
            series_id: spec.recurrence.is_some().then_some(id),
            series_start: if spec.recurrence.is_some() {
                spec.due_time.map(to_stored_precision)
            } else {
                None
            },
            recurrence_done: false,
            recurrence: spec.recurrence,
            reminders: spec.reminders,
            create_time: now,
            update_time: now,
            occurrence: 1,
            complete_time: None,
            version: 1,
            next_reminder_time: None,
        };
        task.next_reminder_time = task.upcoming_fire_times(now).first().copied();
        Ok(task)
    }

    /// Changes with every write; clients send it back to detect lost updates.
    pub fn etag(&self) -> String {
        self.version.to_string()
    }

    /// Applies `patch` under the lifecycle and schedule rules. A patch that
    /// sets every field to what it already is changes nothing.
    pub fn apply(&mut self, patch: TaskPatch, now: DateTime<Utc>) -> Result<Changed, Rejected> {
        let mut next = self.clone();
        if let Some(title) = patch.title {
            next.title = title;
        }
        if let Some(description) = patch.description {
            next.description = description;
        }
        if let Some(priority) = patch.priority {
            next.priority = priority;
        }
        if let Some(tags) = patch.tags {
            next.tags = tags;
        }
        if let Some(due) = patch.due_time {
            next.due_time = due.map(to_stored_precision);
        }
        if let Some(zone) = patch.time_zone {
            next.time_zone = zone;
        }
        if let Some(recurrence) = patch.recurrence {
            next.recurrence = recurrence;
        }
        if let Some(reminders) = patch.reminders {
            next.reminders = reminders;
        }
        if let Some(state) = patch.state {
            next.move_to(state, now)?;
        }
        check_schedule(
            next.due_time,
            next.time_zone,
            &next.recurrence,
            &next.reminders,
        )?;
        if next.recurrence.is_some() && next.series_id.is_none() {
            next.series_id = Some(next.id);
        }
        if next.recurrence.is_some() && next.due_time != self.due_time {
            // A moved occurrence moves the ones after it.
            next.series_start = next.due_time;
        }
        if !next.state.is_open() {
            next.next_reminder_time = None;
        }

        let schedule = next.due_time != self.due_time || next.reminders != self.reminders;
        let changed = Changed {
            any: next != *self,
            schedule,
            recurrence: next.recurrence.is_some()
                && (schedule
                    || next.recurrence != self.recurrence
                    || next.time_zone != self.time_zone),
        };
        if changed.any {
            next.version += 1;
            next.update_time = to_stored_precision(now);
            *self = next;
        }
        Ok(changed)
    }

    fn move_to(&mut self, to: TaskState, now: DateTime<Utc>) -> Result<(), Rejected> {
        if to == self.state {
            return Ok(());
        }
        if !self.state.may_become(to) {
            return Err(Rejected::FailedPrecondition(format!(
                "a task cannot go from {} to {}",
                self.state, to
            )));
        }
        self.complete_time = (to == TaskState::Completed).then(|| to_stored_precision(now));
        self.state = to;
        Ok(())
    }

    /// Whether closing this task (or its due time passing) should create the
    /// next occurrence now.
    pub fn awaits_next_occurrence(&self) -> bool {
        self.recurrence.is_some() && !self.recurrence_done && self.due_time.is_some()
    }

    /// Where this occurrence stands in its series.
    pub fn current_occurrence(&self) -> Option<Occurrence> {
        self.due_time.map(|due| Occurrence {
            due,
            number: self.occurrence,
        })
    }

    /// The next occurrence `next`: same series, content and relative
    /// reminders; absolute reminders stay with this one.
    pub fn next_occurrence(&self, next: Occurrence, now: DateTime<Utc>) -> Task {
        let now = to_stored_precision(now);
        let relative: Vec<Reminder> = self
            .reminders
            .as_slice()
            .iter()
            .copied()
            .filter(|r| matches!(r, Reminder::BeforeDueSecs(_)))
            .collect();
        let mut task = Task {
            id: Uuid::now_v7(),
            state: TaskState::Pending,
            due_time: Some(to_stored_precision(next.due)),
            occurrence: next.number,
            reminders: Reminders::from_stored(relative),
            recurrence_done: false,
            create_time: now,
            update_time: now,
            complete_time: None,
            version: 1,
            ..self.clone()
        };
        task.next_reminder_time = task.upcoming_fire_times(now).first().copied();
        task
    }

    /// Records a change made outside the task's own fields (a snooze).
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.version += 1;
        self.update_time = to_stored_precision(now);
    }

    /// Fire times of the owner's reminders that are still ahead of `now`:
    /// a reminder whose time has passed when it is set never fires.
    pub fn upcoming_fire_times(&self, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut times = self.reminders.fire_times(self.due_time);
        times.retain(|t| *t > now);
        times
    }

    /// Whether the scheduler has work from this task as it is: a fire time
    /// ahead (`upcoming`, from `upcoming_fire_times`) or a recurring due
    /// time to continue from (what `store::schedule::next_wake` looks at).
    pub fn gives_scheduler_work(&self, upcoming: &[DateTime<Utc>]) -> bool {
        !upcoming.is_empty()
            || (self.recurrence.is_some() && self.due_time.is_some() && !self.recurrence_done)
    }
}

#[cfg(test)]
mod tests;
