//! What the scheduler reads and claims: reminders that are due and recurring
//! tasks whose due time has passed, and when the next of either comes.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::tasks::select_tasks;
use crate::domain::Task;

/// Fire times taken, and the database's "now" they were due by.
pub struct Due {
    pub now: DateTime<Utc>,
    pub reminders: Vec<(Uuid, DateTime<Utc>)>,
}

/// Removes up to `limit` due fire times in the caller's transaction,
/// skipping rows another scheduler holds: each fires exactly once. "Due" is
/// by the database's clock, the one every replica shares.
///
/// The rows taken are deleted by their `ctid` (a TID scan; they are locked,
/// and reminders are only ever inserted and deleted, never updated): by key,
/// PostgreSQL hashed the 1,000 keys and scanned every due reminder to
/// match them, 45 ms per batch with 100,000 due against 4 ms.
pub async fn take_due_reminders(conn: &mut PgConnection, limit: i64) -> anyhow::Result<Due> {
    let rows = sqlx::query!(
        "DELETE FROM reminders WHERE ctid = ANY(ARRAY( \
             SELECT ctid FROM reminders WHERE fire_time <= now() \
             ORDER BY fire_time LIMIT $1 FOR UPDATE SKIP LOCKED)) \
         RETURNING task_id, fire_time, now() AS \"now!\"",
        limit
    )
    .fetch_all(conn)
    .await
    .context("cannot take due reminders")?;
    Ok(Due {
        now: rows.first().map_or_else(Utc::now, |r| r.now),
        reminders: rows.into_iter().map(|r| (r.task_id, r.fire_time)).collect(),
    })
}

/// The database's "now" for the caller's transaction (its start).
pub async fn now(conn: &mut PgConnection) -> anyhow::Result<DateTime<Utc>> {
    sqlx::query_scalar!("SELECT now() AS \"now!\"")
        .fetch_one(conn)
        .await
        .context("cannot read the database's clock")
}

/// The open tasks among `ids`, as they are now.
pub async fn open_tasks(conn: &mut PgConnection, ids: &[Uuid]) -> anyhow::Result<Vec<Task>> {
    // By id alone, the state tested here: with `AND state IN (…)` and the
    // statistics of a table that has just grown (100,000 tasks written
    // before autovacuum analysed it), PostgreSQL read the open tasks by the
    // state index and compared each with all 1,000 ids, 0.35 s a batch
    // (100,000 reminders fired in 38 s instead of 8). By id it can only use
    // the primary key.
    let rows = select_tasks!("WHERE id = ANY($1)", ids)
        .fetch_all(conn)
        .await
        .context("cannot read tasks of due reminders")?;
    let tasks = rows
        .into_iter()
        .map(Task::try_from)
        .collect::<anyhow::Result<Vec<Task>>>()?;
    Ok(tasks.into_iter().filter(|t| t.state.is_open()).collect())
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

/// How long until the scheduler has work (a fire time or a recurring due
/// time), by the database's clock. `None`: nothing scheduled.
pub async fn next_wake(pool: &sqlx::PgPool) -> anyhow::Result<Option<std::time::Duration>> {
    let seconds = sqlx::query_scalar!(
        "SELECT EXTRACT(EPOCH FROM LEAST( \
             (SELECT min(fire_time) FROM reminders), \
             (SELECT min(due_time) FROM tasks WHERE recurrence <> '' AND NOT recurrence_done) \
         ) - now())::float8",
    )
    .fetch_one(pool)
    .await
    .context("cannot read the next wake-up")?;
    Ok(seconds.map(|s| std::time::Duration::from_secs_f64(s.clamp(0.0, 86_400.0))))
}
