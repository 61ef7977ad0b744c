//! The `create_requests` table: CreateTask idempotency keys, kept 24 hours.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How long a request id is remembered.
pub const RETENTION_HOURS: i32 = 24;

pub enum Claim {
    /// The key is ours: go on and create the task.
    New,
    /// The key was used within 24 hours, for this request (by hash) and task.
    Seen {
        request_hash: Vec<u8>,
        task_id: Uuid,
    },
}

/// Records the key in the caller's transaction. A concurrent first use of the
/// same key waits on our row lock, then sees it: exactly one task is created.
/// A key older than 24 hours is taken over.
pub async fn claim(
    conn: &mut PgConnection,
    owner: &str,
    request_id: &str,
    request_hash: &[u8],
    task_id: Uuid,
    now: DateTime<Utc>,
) -> anyhow::Result<Claim> {
    let claimed: Option<(bool,)> = sqlx::query_as(
        "INSERT INTO create_requests (owner, request_id, request_hash, task_id, create_time) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (owner, request_id) DO UPDATE \
             SET request_hash = EXCLUDED.request_hash, task_id = EXCLUDED.task_id, \
                 create_time = EXCLUDED.create_time \
             WHERE create_requests.create_time < $5 - make_interval(hours => $6) \
         RETURNING true",
    )
    .bind(owner)
    .bind(request_id)
    .bind(request_hash)
    .bind(task_id)
    .bind(now)
    .bind(RETENTION_HOURS)
    .fetch_optional(&mut *conn)
    .await
    .context("cannot record request id")?;
    if claimed.is_some() {
        return Ok(Claim::New);
    }
    let (request_hash, task_id): (Vec<u8>, Uuid) = sqlx::query_as(
        "SELECT request_hash, task_id FROM create_requests WHERE owner = $1 AND request_id = $2",
    )
    .bind(owner)
    .bind(request_id)
    .fetch_one(conn)
    .await
    .context("cannot read request id")?;
    Ok(Claim::Seen {
        request_hash,
        task_id,
    })
}

/// Forgets keys older than the retention; run now and then.
pub async fn delete_expired(pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM create_requests WHERE create_time < $1 - make_interval(hours => $2)",
    )
    .bind(now)
    .bind(RETENTION_HOURS)
    .execute(pool)
    .await
    .context("cannot delete expired request ids")?;
    Ok(done.rows_affected())
}
