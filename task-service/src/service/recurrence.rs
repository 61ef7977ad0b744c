//! Making the next occurrence of a recurring task, exactly once: from
//! CompleteTask, UpdateTask (to COMPLETED or CANCELLED) and the scheduler
//! (due time passed), whichever comes first.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::Task;
use crate::events::{EventKind, TaskEvent, TraceParent};
use crate::store;

/// In the caller's transaction, with `task` locked: creates the next
/// occurrence (with its fire times and `task.created` event) and marks
/// `task` done with recurrence. `None` when there is nothing to do, the rule
/// has ended, or the occurrence already exists.
pub(crate) async fn spawn_next(
    conn: &mut PgConnection,
    task: &mut Task,
    now: DateTime<Utc>,
    trace: &TraceParent,
) -> anyhow::Result<Option<Task>> {
    if !task.awaits_next_occurrence() {
        return Ok(None);
    }
    let due = task
        .due_time
        .expect("a task awaiting its next occurrence has a due time");
    store::tasks::mark_recurrence_done(&mut *conn, task.id).await?;
    task.recurrence_done = true;

    let start = task.series_start.unwrap_or(due);
    let Some(next_due) = task
        .recurrence
        .next_after(task.time_zone, start, due.max(now))
    else {
        return Ok(None);
    };
    let next = task.next_occurrence(next_due, now);
    let created = TaskEvent::new(EventKind::Created, &next, now, trace.clone());
    let fire_times = next.upcoming_fire_times(now);
    let inserted =
        store::tasks::insert_new(&mut *conn, &next, &fire_times, None, &created.to_outbox())
            .await?;
    Ok(inserted.then_some(next))
}
