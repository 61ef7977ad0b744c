//! The `reminders` table: the pending fire times of each task.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Replaces the fire times derived from the task's due time and reminders.
/// Snoozes stay: they were asked for separately.
pub async fn replace_rule_times(
    conn: &mut PgConnection,
    task_id: Uuid,
    times: &[DateTime<Utc>],
) -> anyhow::Result<()> {
    sqlx::query!(
        "DELETE FROM reminders WHERE task_id = $1 AND source = 'rule'",
        task_id
    )
    .execute(&mut *conn)
    .await
    .context("cannot clear reminders")?;
    insert_rule_times(conn, task_id, times).await
}

async fn insert_rule_times(
    conn: &mut PgConnection,
    task_id: Uuid,
    times: &[DateTime<Utc>],
) -> anyhow::Result<()> {
    if times.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "INSERT INTO reminders (task_id, fire_time, source) \
         SELECT $1, t, 'rule' FROM unnest($2::timestamptz[]) AS t \
         ON CONFLICT (task_id, fire_time) DO NOTHING",
        task_id,
        times,
    )
    .execute(conn)
    .await
    .context("cannot insert reminders")?;
    Ok(())
}

/// A one-off reminder from SnoozeTask, unless the task already has `max`
/// snoozes pending (returns `false`). One that coincides with a rule time
/// becomes a snooze, so that replacing the rules later keeps it.
pub async fn insert_snooze(
    conn: &mut PgConnection,
    task_id: Uuid,
    time: DateTime<Utc>,
    max: i64,
) -> anyhow::Result<bool> {
    let inserted = sqlx::query!(
        "INSERT INTO reminders (task_id, fire_time, source) \
         SELECT $1, $2, 'snooze' \
         WHERE (SELECT count(*) FROM reminders WHERE task_id = $1 AND source = 'snooze') < $3 \
         ON CONFLICT (task_id, fire_time) DO UPDATE SET source = 'snooze'",
        task_id,
        time,
        max,
    )
    .execute(conn)
    .await
    .context("cannot insert snooze reminder")?;
    Ok(inserted.rows_affected() == 1)
}

/// The earliest pending fire time of a task.
pub async fn next_fire_time(
    conn: &mut PgConnection,
    task_id: Uuid,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        "SELECT min(fire_time) FROM reminders WHERE task_id = $1",
        task_id
    )
    .fetch_one(conn)
    .await
    .context("cannot read the next fire time")
}
