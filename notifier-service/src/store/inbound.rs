//! The `inbound` table: what webhooks reported, recorded before they are
//! answered, and the worker's claims on it.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::{PhoneNumber, ReportKind};

/// One thing a webhook told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    /// The provider's message id (or message id and status): the dedupe key.
    pub key: String,
    pub provider: &'static str,
    pub kind: ReportKind,
    pub from_number: Option<PhoneNumber>,
    pub reference: Option<String>,
    pub detail: Option<String>,
    pub error: Option<String>,
    /// When the provider says it happened (window opening counts from it).
    pub time: DateTime<Utc>,
}

/// Records the reports of several webhook deliveries in one transaction
/// (the webhooks' group commit): one statement inserts them all, each key
/// once (a repeat, within the batch or from before, inserts nothing), and
/// each new inbound message opens its sender's 24-hour window. Returns the
/// new reports of each delivery, in order.
pub(crate) async fn record_batch(
    pool: &PgPool,
    deliveries: &[Vec<Report>],
) -> anyhow::Result<Vec<u64>> {
    let reports: Vec<&Report> = deliveries.iter().flatten().collect();
    let mut tx = pool
        .begin()
        .await
        .context("cannot begin recording reports")?;
    let new: std::collections::HashSet<String> = sqlx::query_scalar!(
        "INSERT INTO inbound (key, provider, kind, from_number, reference, detail, error) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[]) \
         ON CONFLICT (key) DO NOTHING RETURNING key",
        &reports.iter().map(|r| r.key.as_str()).collect::<Vec<_>>() as _,
        &reports.iter().map(|r| r.provider).collect::<Vec<_>>() as _,
        &reports.iter().map(|r| r.kind.as_db()).collect::<Vec<_>>() as _,
        &reports
            .iter()
            .map(|r| r.from_number.as_ref().map(PhoneNumber::as_str))
            .collect::<Vec<_>>() as _,
        &reports
            .iter()
            .map(|r| r.reference.as_deref())
            .collect::<Vec<_>>() as _,
        &reports
            .iter()
            .map(|r| r.detail.as_deref())
            .collect::<Vec<_>>() as _,
        &reports
            .iter()
            .map(|r| r.error.as_deref())
            .collect::<Vec<_>>() as _,
    )
    .fetch_all(&mut *tx)
    .await
    .context("cannot record reports")?
    .into_iter()
    .collect();
    // Each new key's first report opens its sender's window (a message's;
    // statuses have no sender).
    let mut opened = std::collections::HashSet::new();
    for report in &reports {
        if let Some(from) = &report.from_number {
            if new.contains(&report.key) && opened.insert(report.key.as_str()) {
                super::contacts::open_window(&mut *tx, from, report.time).await?;
            }
        }
    }
    tx.commit().await.context("cannot commit reports")?;
    Ok(deliveries
        .iter()
        .map(|delivery| delivery.iter().filter(|r| new.contains(&r.key)).count() as u64)
        .collect())
}

/// A claimed report.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub key: String,
    pub kind: ReportKind,
    pub from_number: Option<PhoneNumber>,
    pub reference: Option<String>,
    pub detail: Option<String>,
    pub error: Option<String>,
    pub attempts: i32,
    /// Its action was taken (a retry only acknowledges it).
    pub applied: bool,
    /// When the webhook brought it: what "in 2 hours" counts from.
    pub receive_time: DateTime<Utc>,
}

/// Takes up to `limit` reports to act on, each held for `lease`.
pub(crate) async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: std::time::Duration,
) -> anyhow::Result<Vec<Pending>> {
    let rows = sqlx::query!(
        "WITH picked AS ( \
             SELECT key FROM inbound WHERE done_time IS NULL AND next_try_time <= now() \
             ORDER BY next_try_time LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE inbound i SET next_try_time = now() + make_interval(secs => $2), \
             attempts = i.attempts + 1 \
         FROM picked WHERE i.key = picked.key \
         RETURNING i.key, i.kind, i.from_number, i.reference, i.detail, i.error, i.attempts, \
             i.applied, i.receive_time",
        limit,
        lease.as_secs_f64(),
    )
    .fetch_all(pool)
    .await
    .context("cannot claim reports")?;
    rows.into_iter()
        .map(|r| {
            let kind = ReportKind::from_db(&r.kind).with_context(|| {
                format!("inbound report {:?} has unknown kind {:?}", r.key, r.kind)
            })?;
            Ok(Pending {
                key: r.key,
                kind,
                from_number: r.from_number.map(PhoneNumber::from_stored),
                reference: r.reference,
                detail: r.detail,
                error: r.error,
                attempts: r.attempts,
                applied: r.applied,
                receive_time: r.receive_time,
            })
        })
        .collect()
}

/// Done with a report; `note` says what was (not) done, for the record.
pub(crate) async fn finish(pool: &PgPool, key: &str, note: Option<&str>) -> anyhow::Result<()> {
    finish_many(pool, &[key], note).await
}

/// Finishes several reports at once, each with `note`.
pub(crate) async fn finish_many(
    pool: &PgPool,
    keys: &[&str],
    note: Option<&str>,
) -> anyhow::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE inbound SET done_time = now(), last_error = $2 WHERE key = ANY($1)",
        keys as _,
        note,
    )
    .execute(pool)
    .await
    .context("cannot finish reports")?;
    Ok(())
}

/// Tries several reports again at `at`.
pub(crate) async fn retry_many(
    pool: &PgPool,
    keys: &[&str],
    at: DateTime<Utc>,
    error: &str,
) -> anyhow::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE inbound SET next_try_time = $2, last_error = $3 WHERE key = ANY($1)",
        keys as _,
        at,
        error,
    )
    .execute(pool)
    .await
    .context("cannot schedule reports' retries")?;
    Ok(())
}

/// The report's action was taken: a retry only acknowledges it.
pub(crate) async fn mark_applied(pool: &PgPool, key: &str) -> anyhow::Result<()> {
    sqlx::query!("UPDATE inbound SET applied = true WHERE key = $1", key)
        .execute(pool)
        .await
        .context("cannot mark a report applied")?;
    Ok(())
}

/// Try again at `at`.
pub(crate) async fn retry_at(
    pool: &PgPool,
    key: &str,
    at: DateTime<Utc>,
    error: &str,
) -> anyhow::Result<()> {
    retry_many(pool, &[key], at, error).await
}

/// A message's action was taken and made `reference` (a task made from a
/// text): a retry only answers, and `undo` finds it.
pub(crate) async fn mark_applied_with(
    pool: &PgPool,
    key: &str,
    reference: &str,
) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE inbound SET applied = true, reference = $2 WHERE key = $1",
        key,
        reference,
    )
    .execute(pool)
    .await
    .context("cannot mark a report applied")?;
    Ok(())
}

/// The task last made from a text by `number` within a day, for `undo`.
pub(crate) async fn last_made_task(
    pool: &PgPool,
    number: &PhoneNumber,
) -> anyhow::Result<Option<String>> {
    let row = sqlx::query_scalar!(
        "SELECT reference FROM inbound \
         WHERE from_number = $1 AND kind = 'text' AND applied AND reference IS NOT NULL \
           AND receive_time > now() - interval '24 hours' \
         ORDER BY receive_time DESC LIMIT 1",
        number.as_str(),
    )
    .fetch_optional(pool)
    .await
    .context("cannot find the last task made from a number")?;
    Ok(row.flatten())
}

/// How many tasks `number`'s messages made in the last hour (a bound: the
/// service token skips task-service's per-user rate and quota).
pub(crate) async fn tasks_made_last_hour(
    pool: &PgPool,
    number: &PhoneNumber,
) -> anyhow::Result<i64> {
    let count = sqlx::query_scalar!(
        "SELECT count(*) FROM inbound \
         WHERE from_number = $1 AND kind = 'text' AND applied AND reference IS NOT NULL \
           AND receive_time > now() - interval '1 hour'",
        number.as_str(),
    )
    .fetch_one(pool)
    .await
    .context("cannot count the tasks made from a number")?;
    Ok(count.unwrap_or(0))
}
