//! The `outbox` table: events written in the transaction of their change,
//! claimed by relays a batch at a time under a lease (`outbox_claims`),
//! deleted once RabbitMQ confirmed them.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// An event as the outbox keeps it: its id, where it goes, its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    pub event_id: Uuid,
    pub routing_key: String,
    pub payload: Vec<u8>,
    pub traceparent: String,
    /// For a reminder: its fire time, to measure the publish lag.
    pub due_time: Option<DateTime<Utc>>,
}

/// Writes `records` in the caller's transaction (one statement).
pub async fn enqueue(conn: &mut PgConnection, records: &[OutboxRecord]) -> anyhow::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = records.iter().map(|e| e.event_id).collect();
    let keys: Vec<&str> = records.iter().map(|e| e.routing_key.as_str()).collect();
    let payloads: Vec<&[u8]> = records.iter().map(|e| e.payload.as_slice()).collect();
    let traces: Vec<&str> = records.iter().map(|e| e.traceparent.as_str()).collect();
    let due: Vec<Option<DateTime<Utc>>> = records.iter().map(|e| e.due_time).collect();
    sqlx::query!(
        "INSERT INTO outbox (event_id, routing_key, payload, traceparent, due_time) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::timestamptz[])",
        &ids,
        &keys as _,
        &payloads as _,
        &traces as _,
        &due as _,
    )
    .execute(conn)
    .await
    .context("cannot write events to the outbox")?;
    Ok(())
}

/// A claimed event.
#[derive(Debug)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: Uuid,
    pub routing_key: String,
    pub payload: Vec<u8>,
    pub traceparent: String,
    pub due_time: Option<DateTime<Utc>>,
    /// Earlier publishes the broker refused.
    pub attempts: i32,
}

/// A relay's hold on a batch of events: one row in `outbox_claims` naming
/// the range of ids it took, until its lease ends (see the migration
/// `outbox_claims`: the lease is per batch, not per row).
#[derive(Debug)]
pub struct Claim {
    pub id: i64,
    /// Oldest first.
    pub rows: Vec<OutboxRow>,
}

/// Claims up to `limit` new events (oldest first) and up to `limit` whose
/// retry is due, for `lease`; `None` if nothing is waiting. Claims are
/// made one at a time (the table lock, held for the claim's short
/// transaction), so each sees every claim made before it and concurrent
/// relays never take the same event while a lease lasts.
pub async fn claim(pool: &PgPool, limit: i64, lease: Duration) -> anyhow::Result<Option<Claim>> {
    // The rows are read once, by the scans that pick them, and go straight
    // to the relay: no CTE holds them and PostgreSQL does not sort them (the
    // relay does, by id). Joining the picked ids back to the table read
    // every row twice (a claim of 1,000 took 8.0 ms at the mean against 6.7
    // ms without, 2026-12-05). Holding the rows in a CTE to write the
    // claim's range in the same statement, then sorting them there, cost
    // PostgreSQL about 3.7 µs an event: 14.5-18.9 µs of its CPU per relayed
    // event against 11.9-13.4 µs this way (task-bench --events, four runs
    // of 10 rounds each, the builds alternating, 2026-12-06).
    let mut tx = pool.begin().await.context("cannot claim outbox rows")?;
    sqlx::query!("LOCK TABLE outbox_claims IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .context("cannot lock the outbox claims")?;
    let mut rows: Vec<OutboxRow> = sqlx::query_as!(
        OutboxRow,
        "WITH live AS ( \
             SELECT first_id, last_id FROM outbox_claims WHERE claimed_until > now()) \
         (SELECT o.id AS \"id!\", o.event_id AS \"event_id!\", o.routing_key AS \"routing_key!\", \
              o.payload AS \"payload!\", o.traceparent AS \"traceparent!\", o.due_time, \
              o.attempts AS \"attempts!\" \
          FROM outbox o WHERE o.not_before IS NULL \
              AND NOT EXISTS (SELECT 1 FROM live WHERE o.id BETWEEN live.first_id AND live.last_id) \
          ORDER BY o.id LIMIT $1) \
         UNION ALL \
         (SELECT o.id, o.event_id, o.routing_key, o.payload, o.traceparent, o.due_time, o.attempts \
          FROM outbox o WHERE o.not_before <= now() \
              AND NOT EXISTS (SELECT 1 FROM live WHERE o.id BETWEEN live.first_id AND live.last_id) \
          ORDER BY o.not_before LIMIT $1)",
        limit,
    )
    .fetch_all(&mut *tx)
    .await
    .context("cannot claim outbox rows")?;
    rows.sort_unstable_by_key(|r| r.id);
    let (Some(first), Some(last)) = (rows.first().map(|r| r.id), rows.last().map(|r| r.id)) else {
        // Ended now, not when the connection is next used: the lock would
        // hold every other relay's claim until then.
        tx.commit().await.context("cannot claim outbox rows")?;
        return Ok(None);
    };
    let claim = sqlx::query_scalar!(
        "WITH ended AS (DELETE FROM outbox_claims WHERE claimed_until <= now()) \
         INSERT INTO outbox_claims (first_id, last_id, claimed_until) \
         VALUES ($1, $2, now() + make_interval(secs => $3)) \
         RETURNING claim",
        first,
        last,
        lease.as_secs_f64(),
    )
    .fetch_one(&mut *tx)
    .await
    .context("cannot claim outbox rows")?;
    tx.commit().await.context("cannot claim outbox rows")?;
    Ok(Some(Claim { id: claim, rows }))
}

/// Forgets the events RabbitMQ confirmed and ends the claim: what it took
/// and did not publish (given a retry time by `retry_later` first) is free
/// for the next claim.
pub async fn finish(pool: &PgPool, claim: i64, published: &[i64]) -> anyhow::Result<()> {
    // By runs of consecutive ids, each one range of the primary key: a
    // batch of a backlog is one run or a few. `id = ANY($1)` descended the
    // key once per id: a batch of 1,000 rows of 700 bytes read 3,103 buffers
    // and took 2.65 ms at the median, against 1,104 and 1.63 ms by runs (30
    // of each alternating, generic plans, 2026-12-06). Every id of a run is
    // one the caller names, so no row it does not name can go, however
    // close its id (a late commit inside the claim's range, a refused row).
    let (first, last) = runs(published);
    sqlx::query!(
        "WITH published AS ( \
             DELETE FROM outbox o USING unnest($1::int8[], $2::int8[]) AS r (first, last) \
             WHERE o.id BETWEEN r.first AND r.last) \
         DELETE FROM outbox_claims WHERE claim = $3",
        &first,
        &last,
        claim,
    )
    .execute(pool)
    .await
    .context("cannot delete published outbox rows")?;
    Ok(())
}

/// `ids` as runs of consecutive integers, each as its first and last id.
fn runs(ids: &[i64]) -> (Vec<i64>, Vec<i64>) {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let (mut first, mut last) = (Vec::new(), Vec::<i64>::new());
    for id in sorted {
        match last.last_mut() {
            Some(end) if end.checked_add(1) == Some(id) => *end = id,
            _ => {
                first.push(id);
                last.push(id);
            }
        }
    }
    (first, last)
}

/// Holds events back for another try after `retry_in`, noting why.
pub async fn retry_later(
    pool: &PgPool,
    ids: &[i64],
    retry_in: Duration,
    error: &str,
) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE outbox SET not_before = now() + make_interval(secs => $2), \
             attempts = attempts + 1, last_error = $3 \
         WHERE id = ANY($1)",
        ids,
        retry_in.as_secs_f64(),
        error,
    )
    .execute(pool)
    .await
    .context("cannot give outbox rows a retry time")?;
    Ok(())
}

/// Unpublished events and the age of the oldest, for `/metrics`.
pub async fn backlog(pool: &PgPool) -> anyhow::Result<(i64, f64)> {
    let row = sqlx::query!(
        "SELECT count(*) AS \"count!\", \
             COALESCE(EXTRACT(EPOCH FROM now() - min(create_time))::float8, 0) AS \"oldest!\" \
         FROM outbox",
    )
    .fetch_one(pool)
    .await
    .context("cannot measure the outbox")?;
    Ok((row.count, row.oldest))
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn runs_hold_exactly_the_ids_given() {
        assert_eq!(runs(&[]), (vec![], vec![]));
        assert_eq!(runs(&[7]), (vec![7], vec![7]));
        assert_eq!(runs(&[1, 2, 3, 4]), (vec![1], vec![4]));
        assert_eq!(
            runs(&[9, 1, 2, 5, 3, 6, 2]),
            (vec![1, 5, 9], vec![3, 6, 9]),
            "unsorted, with a repeat: 1-3, 5-6, 9"
        );
        assert_eq!(
            runs(&[i64::MAX - 1, i64::MAX, i64::MIN]),
            (vec![i64::MIN, i64::MAX - 1], vec![i64::MIN, i64::MAX])
        );
    }
}
