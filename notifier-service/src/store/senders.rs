//! The `senders` table: one row per live replica, its heartbeat and its
//! configured limit; what `delivery::share` divides the account's rate by.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

/// The account's limit and how many replicas share it, as one statement saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Senders {
    /// The smallest `WHATSAPP_MAX_MPS` among live replicas.
    pub max_mps: u32,
    /// Live replicas, this one included.
    pub live: u32,
}

/// Where this replica stands after a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Its row was fresh: every other replica has counted it all along.
    Kept(Senders),
    /// Its row was missing or stale (a first start, or heartbeats that
    /// failed for longer than `dead_after`): others may have taken its share.
    Lost,
}

/// Which 64-bit key serialises joins: two replicas starting together must
/// not each see itself alone.
const JOIN_LOCK: i64 = 0x7464_676e_7365_6e64; // "tdgnsend"

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Renews this replica's heartbeat if its row is still fresh, and counts the
/// live. Deletes the rows of replicas dead for longer than `dead_after`.
/// One statement: its count sees the table as it was before the renewal,
/// when this replica's row was (if renewed) already fresh.
pub(crate) async fn beat(pool: &PgPool, id: Uuid, dead_after: Duration) -> sqlx::Result<Beat> {
    let row = sqlx::query!(
        r#"WITH renewed AS (
               UPDATE senders SET heartbeat_at = now()
               WHERE id = $1 AND heartbeat_at > now() - make_interval(secs => $2)
               RETURNING id
           ), dead AS (
               DELETE FROM senders
               WHERE heartbeat_at <= now() - make_interval(secs => $2) AND id <> $1
           )
           SELECT EXISTS (SELECT 1 FROM renewed) AS "renewed!",
                  count(*) AS "live!", coalesce(min(max_mps), 1) AS "max_mps!"
           FROM senders WHERE heartbeat_at > now() - make_interval(secs => $2)"#,
        id,
        secs(dead_after),
    )
    .fetch_one(pool)
    .await?;
    if !row.renewed {
        return Ok(Beat::Lost);
    }
    Ok(Beat::Kept(senders(row.live, row.max_mps)))
}

/// Announces this replica (again), serialised with every other join, and
/// says how many were live besides it.
pub(crate) async fn join(
    pool: &PgPool,
    id: Uuid,
    max_mps: u32,
    dead_after: Duration,
) -> sqlx::Result<Senders> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", JOIN_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO senders (id, max_mps) VALUES ($1, $2) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), max_mps = $2",
        id,
        i32::try_from(max_mps).unwrap_or(i32::MAX),
    )
    .execute(&mut *tx)
    .await?;
    let senders = count(&mut *tx, dead_after).await?;
    tx.commit().await?;
    Ok(senders)
}

/// Counts the live replicas and their smallest limit; deletes the dead.
async fn count<'c, E>(executor: E, dead_after: Duration) -> sqlx::Result<Senders>
where
    E: sqlx::PgExecutor<'c>,
{
    let row = sqlx::query!(
        r#"WITH dead AS (
               DELETE FROM senders WHERE heartbeat_at <= now() - make_interval(secs => $1)
           )
           SELECT count(*) AS "live!", coalesce(min(max_mps), 1) AS "max_mps!"
           FROM senders WHERE heartbeat_at > now() - make_interval(secs => $1)"#,
        secs(dead_after),
    )
    .fetch_one(executor)
    .await?;
    Ok(senders(row.live, row.max_mps))
}

fn senders(live: i64, max_mps: i32) -> Senders {
    Senders {
        max_mps: u32::try_from(max_mps).unwrap_or(1).max(1),
        live: u32::try_from(live).unwrap_or(1).max(1),
    }
}

/// Leaves at shutdown, once this replica sends no more: the others take
/// its share at their next heartbeat instead of after `dead_after`.
pub(crate) async fn leave(pool: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM senders WHERE id = $1", id)
        .execute(pool)
        .await?;
    Ok(())
}
