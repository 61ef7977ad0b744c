//! The `create_requests` table: CreateTask idempotency keys, kept 24 hours.
//! Keys are claimed by `tasks::insert_new`, in the statement that creates the task.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// How long a request id is remembered.
pub const RETENTION_HOURS: i32 = 24;

/// The hash of the request a key was first used with, and the task it
/// created, if the key was used within the retention.
pub async fn find(
    executor: impl sqlx::PgExecutor<'_>,
    owner: &str,
    request_id: &str,
) -> anyhow::Result<Option<(Vec<u8>, Uuid)>> {
    let row = sqlx::query!(
        "SELECT request_hash, task_id FROM create_requests WHERE owner = $1 AND request_id = $2",
        owner,
        request_id,
    )
    .fetch_optional(executor)
    .await
    .context("cannot read request id")?;
    Ok(row.map(|r| (r.request_hash, r.task_id)))
}

/// Forgets keys older than the retention; run now and then.
pub async fn delete_expired(pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM create_requests \
         WHERE create_time < $1::timestamptz - make_interval(hours => $2::int)",
        now,
        RETENTION_HOURS,
    )
    .execute(pool)
    .await
    .context("cannot delete expired request ids")?;
    Ok(done.rows_affected())
}
