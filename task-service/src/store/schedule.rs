//! What the scheduler reads and claims: reminders that are due and recurring
//! tasks whose due time has passed, and when the next of either comes.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::tasks::select_tasks;
use crate::domain::Task;

/// Removes up to `limit` due fire times in the caller's transaction,
/// skipping rows another scheduler holds: each fires exactly once.
pub async fn take_due_reminders(
    conn: &mut PgConnection,
    limit: i64,
) -> anyhow::Result<Vec<(Uuid, DateTime<Utc>)>> {
    let rows = sqlx::query!(
        "DELETE FROM reminders WHERE (task_id, fire_time) IN ( \
             SELECT task_id, fire_time FROM reminders WHERE fire_time <= now() \
             ORDER BY fire_time LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING task_id, fire_time",
        limit
    )
    .fetch_all(conn)
    .await
    .context("cannot take due reminders")?;
    Ok(rows.into_iter().map(|r| (r.task_id, r.fire_time)).collect())
}

/// The open tasks among `ids`, as they are now.
pub async fn open_tasks(conn: &mut PgConnection, ids: &[Uuid]) -> anyhow::Result<Vec<Task>> {
    let rows = select_tasks!(
        "WHERE id = ANY($1) AND state IN ('pending', 'in_progress')",
        ids
    )
    .fetch_all(conn)
    .await
    .context("cannot read tasks of due reminders")?;
    rows.into_iter().map(Task::try_from).collect()
}

/// Locks up to `limit` recurring tasks whose due time has passed and whose
/// next occurrence is still to be made.
pub async fn lock_passed_recurring(
    conn: &mut PgConnection,
    limit: i64,
) -> anyhow::Result<Vec<Task>> {
    let rows = select_tasks!(
        "WHERE recurrence <> '' AND NOT recurrence_done AND due_time <= now() \
         ORDER BY due_time LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit
    )
    .fetch_all(conn)
    .await
    .context("cannot read passed recurring tasks")?;
    rows.into_iter().map(Task::try_from).collect()
}

/// The earliest moment the scheduler has work: a fire time or a recurring
/// due time. `None`: nothing scheduled.
pub async fn next_wake(pool: &sqlx::PgPool) -> anyhow::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        "SELECT LEAST((SELECT min(fire_time) FROM reminders), \
                      (SELECT min(due_time) FROM tasks WHERE recurrence <> '' AND NOT recurrence_done))",
    )
    .fetch_one(pool)
    .await
    .context("cannot read the next wake-up")
}
