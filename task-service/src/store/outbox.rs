//! The `outbox` table: events written in the transaction of their change,
//! claimed by relays under a lease, deleted once RabbitMQ confirmed them.

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
    pub attempts: i32,
}

/// Claims up to `limit` new events (oldest first) and up to `limit` whose
/// lease or retry delay ran out, for `lease`. Concurrent relays skip each
/// other's rows.
pub async fn claim(pool: &PgPool, limit: i64, lease: Duration) -> anyhow::Result<Vec<OutboxRow>> {
    sqlx::query_as!(
        OutboxRow,
        "WITH fresh AS ( \
             SELECT id FROM outbox WHERE claimed_until IS NULL \
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED), \
         expired AS ( \
             SELECT id FROM outbox WHERE claimed_until < now() \
             ORDER BY claimed_until LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE outbox o SET claimed_until = now() + make_interval(secs => $2), attempts = o.attempts + 1 \
         FROM (SELECT id FROM fresh UNION ALL SELECT id FROM expired) AS c \
         WHERE o.id = c.id \
         RETURNING o.id, o.event_id, o.routing_key, o.payload, o.traceparent, o.due_time, o.attempts",
        limit,
        lease.as_secs_f64(),
    )
    .fetch_all(pool)
    .await
    .context("cannot claim outbox rows")
    .map(|mut rows: Vec<OutboxRow>| {
        rows.sort_by_key(|r| r.id);
        rows
    })
}

/// Forgets events RabbitMQ confirmed.
pub async fn delete(pool: &PgPool, ids: &[i64]) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!("DELETE FROM outbox WHERE id = ANY($1)", ids)
        .execute(pool)
        .await
        .context("cannot delete published outbox rows")?;
    Ok(())
}

/// Gives events back for another try after `retry_in`, noting why.
pub async fn release(
    pool: &PgPool,
    ids: &[i64],
    retry_in: Duration,
    error: &str,
) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE outbox SET claimed_until = now() + make_interval(secs => $2), last_error = $3 \
         WHERE id = ANY($1)",
        ids,
        retry_in.as_secs_f64(),
        error,
    )
    .execute(pool)
    .await
    .context("cannot release outbox rows")?;
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
