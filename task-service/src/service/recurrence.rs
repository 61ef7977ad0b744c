//! Making the next occurrence of a recurring task, exactly once: from
//! CompleteTask, UpdateTask (to COMPLETED or CANCELLED) and the scheduler
//! (due time passed), whichever comes first. Rules run on the blocking pool:
//! their work is bounded (`domain::recurrence`), but up to ~30 ms of it is
//! not the async runtime's to spend.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::{FieldViolations, Occurrence, Task};
use crate::error::Error;
use crate::events::{EventKind, TaskEvent, TraceParent};
use crate::store;

/// One rule at a time per process: a costly rule takes at most ~30 ms, and
/// with this no number of callers sending them can spend more than one of
/// the machine's cores on rules (a usual rule takes microseconds, so the
/// queue is short).
static EVALUATING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// The occurrence after `task`'s current one that is later than `after`.
/// `Err` says why none could be computed (budget spent, or the rule crate
/// failed); `Ok(None)`: the rule has ended.
async fn next_of(task: &Task, after: DateTime<Utc>) -> Result<Option<Occurrence>, String> {
    let Some(current) = task.current_occurrence() else {
        return Ok(None);
    };
    let rule = task.recurrence.clone();
    let zone = task.time_zone;
    let anchor = task.series_start.unwrap_or(current.due);
    let turn = EVALUATING
        .acquire()
        .await
        .map_err(|_| "cannot be evaluated now".to_owned())?;
    // The turn ends with the work, even if the caller stops waiting for it.
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        rule.next_after(zone, anchor, current, after)
    })
    .await
    .map_err(|e| format!("cannot be evaluated ({e})"))?
    .map_err(|over| over.to_string())
}

/// When a rule is set (or the due time or zone it runs from changes): its
/// next occurrence after the due time and now must be found within the
/// budget, unless the rule's own COUNT or UNTIL ends it.
pub(crate) async fn check_rule(task: &Task, now: DateTime<Utc>) -> Result<(), Error> {
    if !task.recurrence.is_some() {
        return Ok(());
    }
    let refused = |why: String| Err(FieldViolations::single("task.recurrence", why).into());
    match next_of(task, now).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) if task.recurrence.ends() => Ok(()),
        Ok(None) => refused("never fires after the due_time".into()),
        Err(why) => refused(why),
    }
}

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
    store::tasks::mark_recurrence_done(&mut *conn, task.id).await?;
    task.recurrence_done = true;

    let next = match next_of(task, now).await {
        Ok(Some(next)) => next,
        Ok(None) => return Ok(None),
        Err(why) => {
            // Checked when set, so only a series left alone for years (or a
            // rule crate that changed) gets here: it ends, loudly.
            tracing::warn!(task = %task.id, why, "recurring task's series ends");
            return Ok(None);
        }
    };
    let next = task.next_occurrence(next, now);
    let created = TaskEvent::new(EventKind::Created, &next, now, trace.clone());
    let fire_times = next.upcoming_fire_times(now);
    let inserted =
        store::tasks::insert_new(&mut *conn, &next, &fire_times, None, &created.to_outbox())
            .await?;
    Ok(inserted.then_some(next))
}
