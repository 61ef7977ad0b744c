//! The Task aggregate's rules: lifecycle moves, schedule invariants, patches.

use super::*;

fn spec() -> TaskSpec {
    TaskSpec {
        owner: UserId::parse("alice").unwrap(),
        title: TaskTitle::parse("Water the plants").unwrap(),
        description: Description::default(),
        state: TaskState::Pending,
        priority: Priority::Medium,
        tags: Tags::default(),
        due_time: None,
        time_zone: TimeZone::default(),
        recurrence: Recurrence::default(),
        reminders: Reminders::default(),
    }
}

fn complete(task: &mut Task, now: DateTime<Utc>) -> Result<Changed, Rejected> {
    let patch = TaskPatch {
        state: Some(TaskState::Completed),
        ..TaskPatch::default()
    };
    task.apply(patch, now)
}

#[test]
fn setting_fields_to_what_they_are_changes_nothing() {
    let now = Utc::now();
    let mut task = Task::new(spec(), now).unwrap();
    let patch = TaskPatch {
        title: Some(task.title.clone()),
        state: Some(TaskState::Pending),
        ..TaskPatch::default()
    };
    assert_eq!(task.apply(patch, now).unwrap(), Changed::default());
    assert_eq!(task.version, 1);
}

#[test]
fn completing_sets_and_reopening_clears_the_complete_time() {
    let now = Utc::now();
    let mut task = Task::new(spec(), now).unwrap();
    assert!(complete(&mut task, now).unwrap().any);
    assert!(task.complete_time.is_some());
    assert!(
        !complete(&mut task, now).unwrap().any,
        "completing twice is a no-op"
    );
    let reopen = TaskPatch {
        state: Some(TaskState::Pending),
        ..TaskPatch::default()
    };
    task.apply(reopen, now).unwrap();
    assert_eq!(task.complete_time, None);
    assert_eq!(task.version, 3);
}

#[test]
fn an_archived_task_cannot_be_completed() {
    let now = Utc::now();
    let mut task = Task::new(spec(), now).unwrap();
    task.state = TaskState::Archived;
    let err = complete(&mut task, now).unwrap_err();
    assert!(matches!(err, Rejected::FailedPrecondition(m) if m.contains("TASK_STATE_ARCHIVED")));
}

#[test]
fn clearing_the_due_time_of_a_recurring_task_is_refused() {
    let now = Utc::now();
    let mut with_due = spec();
    with_due.due_time = Some(now);
    with_due.recurrence = Recurrence::parse("daily").unwrap();
    let mut task = Task::new(with_due, now).unwrap();
    assert_eq!(task.series_id, Some(task.id));
    let clear = TaskPatch {
        due_time: Some(None),
        ..TaskPatch::default()
    };
    assert!(matches!(task.apply(clear, now), Err(Rejected::Invalid(_))));
}

#[test]
fn only_a_task_that_fires_or_recurs_gives_the_scheduler_work() {
    let now = Utc::now();
    let hour = chrono::Duration::hours(1);
    let gives_work = |spec: TaskSpec| {
        let task = Task::new(spec, now).unwrap();
        task.gives_scheduler_work(&task.upcoming_fire_times(now))
    };
    assert!(!gives_work(spec()), "no due time, no reminder");
    let mut passed = spec();
    passed.due_time = Some(now - hour);
    assert!(!gives_work(passed), "its one fire time has passed");
    let mut due = spec();
    due.due_time = Some(now + hour);
    assert!(gives_work(due), "fires at its due time");
    let mut at = spec();
    at.reminders = Reminders::parse(vec![Reminder::At(now + hour)]).unwrap();
    assert!(gives_work(at), "fires at its reminder");
    let mut recurring = spec();
    recurring.due_time = Some(now - hour);
    recurring.recurrence = Recurrence::parse("daily").unwrap();
    assert!(gives_work(recurring), "its next occurrence is due");
}
