//! The `notifications` table: the delivery engine's queue (claims with a
//! lease and a claim id that fences the outcomes), status reports, and the
//! reads behind ListNotifications and GetNotification.

use std::collections::HashSet;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{Channel, Notification, Status, UserId};

/// The first key of a recipient's advisory lock in `claim` (the second is
/// the hash of their user id; the two-key form never meets `senders`'
/// one-key lock).
const RECIPIENT_LOCK: i32 = 0x6e6f_7469; // "noti"

/// A checked query returning [`NotificationRow`]s: `$head`, every column
/// of `notifications n`, `$tail`.
macro_rules! notification_query {
    ($head:literal, $tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            NotificationRow,
            $head + "n.id, n.user_id, n.task_id, n.event_id, n.reminder_time, n.task_title, \
                n.due_time, n.channel, n.status, n.batch_id, n.provider_message_id, n.attempts, \
                n.failures, n.last_error, n.scheduled_time, n.create_time, n.update_time, \
                n.traceparent"
                + $tail
            $(, $arg)*
        )
    };
}

/// A row as stored; [`Notification`] is what leaves this module.
#[derive(Debug, Clone)]
struct NotificationRow {
    id: Uuid,
    user_id: String,
    task_id: Uuid,
    event_id: Uuid,
    reminder_time: DateTime<Utc>,
    task_title: String,
    due_time: Option<DateTime<Utc>>,
    channel: String,
    status: String,
    batch_id: Option<Uuid>,
    provider_message_id: Option<String>,
    attempts: i32,
    failures: i32,
    last_error: Option<String>,
    scheduled_time: DateTime<Utc>,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    traceparent: Option<String>,
}

impl TryFrom<NotificationRow> for Notification {
    type Error = anyhow::Error;

    /// The migration's CHECKs allow only known values; one that does not
    /// read back is an error naming the row, never a silent default.
    fn try_from(row: NotificationRow) -> anyhow::Result<Self> {
        let id = row.id;
        Ok(Notification {
            id,
            user_id: UserId::from_stored(row.user_id),
            task_id: row.task_id,
            event_id: row.event_id,
            reminder_time: row.reminder_time,
            task_title: row.task_title,
            due_time: row.due_time,
            channel: Channel::from_db(&row.channel).with_context(|| {
                format!("notification {id} has unknown channel {:?}", row.channel)
            })?,
            status: Status::from_db(&row.status).with_context(|| {
                format!("notification {id} has unknown status {:?}", row.status)
            })?,
            batch_id: row.batch_id,
            provider_message_id: row.provider_message_id,
            attempts: row.attempts,
            failures: row.failures,
            last_error: row.last_error,
            scheduled_time: row.scheduled_time,
            create_time: row.create_time,
            update_time: row.update_time,
            traceparent: row.traceparent,
        })
    }
}

/// A claimed notification and the state its task was last seen in.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub notification: Notification,
    pub task_state: Option<String>,
}

fn read_all(rows: Vec<NotificationRow>) -> anyhow::Result<Vec<Notification>> {
    rows.into_iter().map(Notification::try_from).collect()
}

/// Takes the due notifications of up to `limit` recipients (all of each
/// one's, at most `limit * 4` rows), holding each for
/// `lease` (its `scheduled_time` moves to the lease's end, so a crashed
/// sender's work comes back by itself). `attempts` counts the request about
/// to be made before it is made: a crash mid-send still shows in it.
/// `claim` marks the rows as this round's: only it can record their outcomes.
pub(crate) async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: std::time::Duration,
    claim: Uuid,
) -> anyhow::Result<Vec<Claimed>> {
    // One statement: the claim and the state each task was last seen in.
    // A round takes whole recipients, so that each one's due rows make one
    // digest: up to `limit` of them, from the next `limit * 4` due rows in
    // time order, each only once it holds the recipient's advisory lock (to
    // its commit; a round that cannot have it leaves the recipient to the
    // holder); then all of their due rows, at most `limit * 4`. Without the
    // lock the two loops of a process (or replicas), woken by one due time,
    // each took part of a digest (CI of 2026-12-05: four reminders, then
    // the fifth alone 6 s later); without whole recipients the LIMIT cut
    // one at each round's edge. The lock is tried only as the LIMIT pulls a
    // candidate, so a round holds at most `limit * 4` advisory locks. The
    // recipients' rows are found as an array through
    // `notifications_pending_user`: with 20,000 due (EXPLAIN ANALYZE, 256 a
    // round) a join hashed every due row, 18.4-18.9 ms a claim against
    // 12.2-14.8 ms this way and 9.0-9.4 ms for the claim before whole
    // recipients (the same sort of the due rows is in all three).
    let rows = sqlx::query!(
        "WITH candidates AS MATERIALIZED ( \
             SELECT user_id FROM ( \
                 SELECT user_id, scheduled_time FROM notifications \
                 WHERE status IN ('QUEUED', 'DEFERRED') AND scheduled_time <= now() \
                 ORDER BY scheduled_time LIMIT $1::bigint * 4) due \
             GROUP BY user_id ORDER BY min(scheduled_time)), \
         recipients AS MATERIALIZED ( \
             SELECT user_id FROM candidates \
             WHERE pg_try_advisory_xact_lock($4, hashtext(user_id)) LIMIT $1), \
         picked AS ( \
             SELECT n.id FROM notifications n \
             WHERE n.user_id = ANY (ARRAY(SELECT user_id FROM recipients)) \
               AND n.status IN ('QUEUED', 'DEFERRED') AND n.scheduled_time <= now() \
             ORDER BY n.scheduled_time LIMIT $1::bigint * 4 FOR UPDATE OF n SKIP LOCKED) \
         UPDATE notifications n \
         SET scheduled_time = now() + make_interval(secs => $2), attempts = n.attempts + 1, \
             claim = $3 \
         FROM picked WHERE n.id = picked.id \
         RETURNING n.id, n.user_id, n.task_id, n.event_id, n.reminder_time, n.task_title, \
             n.due_time, n.channel, n.status, n.batch_id, n.provider_message_id, n.attempts, \
             n.failures, n.last_error, n.scheduled_time, n.create_time, n.update_time, \
             n.traceparent, (SELECT t.state FROM task_states t WHERE t.task_id = n.task_id) AS task_state",
        limit,
        lease.as_secs_f64(),
        claim,
        RECIPIENT_LOCK,
    )
    .fetch_all(pool)
    .await
    .context("cannot claim notifications")?;
    rows.into_iter()
        .map(|r| {
            let row = NotificationRow {
                id: r.id,
                user_id: r.user_id,
                task_id: r.task_id,
                event_id: r.event_id,
                reminder_time: r.reminder_time,
                task_title: r.task_title,
                due_time: r.due_time,
                channel: r.channel,
                status: r.status,
                batch_id: r.batch_id,
                provider_message_id: r.provider_message_id,
                attempts: r.attempts,
                failures: r.failures,
                last_error: r.last_error,
                scheduled_time: r.scheduled_time,
                create_time: r.create_time,
                update_time: r.update_time,
                traceparent: r.traceparent,
            };
            Ok(Claimed {
                notification: row.try_into()?,
                task_state: r.task_state,
            })
        })
        .collect()
}

/// What became of one claimed notification.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub id: Uuid,
    pub status: Status,
    pub channel: Channel,
    /// Requests actually made for it in this round (the claim counted one).
    pub requests: i32,
    pub failures: i32,
    pub provider_message_id: Option<String>,
    pub batch_id: Option<Uuid>,
    pub last_error: Option<String>,
    /// For QUEUED and DEFERRED: when to try again.
    pub scheduled_time: DateTime<Utc>,
}

/// Records each claim's outcomes, all in one statement, for the rows that
/// claim still holds (and lets go of them); returns, per claim, how many
/// it held. A status report that arrived meanwhile is never moved back.
pub(crate) async fn record(
    pool: &PgPool,
    claims: &[(Uuid, Vec<Outcome>)],
) -> anyhow::Result<Vec<u64>> {
    let outcomes = || {
        claims
            .iter()
            .flat_map(|(claim, rows)| rows.iter().map(move |o| (*claim, o)))
    };
    if outcomes().next().is_none() {
        return Ok(vec![0; claims.len()]);
    }
    // By id and claim: a lost round and the one that took its rows may
    // share a statement, and only the latter holds them.
    let held: HashSet<(Uuid, Uuid)> = sqlx::query!(
        "UPDATE notifications n SET \
             status = CASE WHEN status_rank(n.status) > status_rank(u.status) \
                 THEN n.status ELSE u.status END, \
             channel = u.channel, \
             attempts = n.attempts - 1 + u.requests, \
             failures = u.failures, \
             provider_message_id = coalesce(u.provider_message_id, n.provider_message_id), \
             batch_id = coalesce(u.batch_id, n.batch_id), \
             last_error = coalesce(u.last_error, n.last_error), \
             scheduled_time = u.scheduled_time, \
             update_time = now(), \
             claim = NULL \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::int[], $6::text[], \
             $7::uuid[], $8::text[], $9::timestamptz[], $10::uuid[]) \
             AS u(id, status, channel, requests, failures, provider_message_id, batch_id, \
                  last_error, scheduled_time, claim) \
         WHERE n.id = u.id AND n.claim = u.claim \
         RETURNING n.id, u.claim AS \"claim!\"",
        &outcomes().map(|(_, o)| o.id).collect::<Vec<_>>() as _,
        &outcomes().map(|(_, o)| o.status).collect::<Vec<_>>() as _,
        &outcomes().map(|(_, o)| o.channel).collect::<Vec<_>>() as _,
        &outcomes().map(|(_, o)| o.requests).collect::<Vec<_>>() as _,
        &outcomes().map(|(_, o)| o.failures).collect::<Vec<_>>() as _,
        &outcomes()
            .map(|(_, o)| o.provider_message_id.clone())
            .collect::<Vec<_>>() as _,
        &outcomes().map(|(_, o)| o.batch_id).collect::<Vec<_>>() as _,
        &outcomes()
            .map(|(_, o)| o.last_error.clone())
            .collect::<Vec<_>>() as _,
        &outcomes()
            .map(|(_, o)| o.scheduled_time)
            .collect::<Vec<_>>() as _,
        &outcomes().map(|(claim, _)| claim).collect::<Vec<_>>() as _,
    )
    .fetch_all(pool)
    .await
    .context("cannot record outcomes")?
    .into_iter()
    .map(|row| (row.id, row.claim))
    .collect();
    Ok(claims
        .iter()
        .map(|(claim, rows)| {
            rows.iter()
                .filter(|o| held.contains(&(o.id, *claim)))
                .count() as u64
        })
        .collect())
}

/// When the next pending notification is due, if any.
pub(crate) async fn next_due(pool: &PgPool) -> anyhow::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        "SELECT scheduled_time FROM notifications WHERE status IN ('QUEUED', 'DEFERRED') \
         ORDER BY scheduled_time LIMIT 1"
    )
    .fetch_optional(pool)
    .await
    .context("cannot read the next due notification")
}

/// Pending notifications that have failed at least once: the retry queue.
pub(crate) async fn retry_depth(pool: &PgPool) -> anyhow::Result<i64> {
    sqlx::query_scalar!(
        "SELECT count(*) AS \"depth!\" FROM notifications \
         WHERE status IN ('QUEUED', 'DEFERRED') AND failures > 0"
    )
    .fetch_one(pool)
    .await
    .context("cannot measure the retry queue")
}

/// One provider status report, to apply.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatusReport<'a> {
    pub provider_message_id: &'a str,
    pub status: Status,
    pub error: Option<&'a str>,
}

/// Applies status reports, many in one statement, to the notifications sent
/// as each message, moving forward only (of several reports for one
/// message, the furthest along counts: applied one by one they would end
/// there too). Returns the message ids that name a notification; the others
/// may not be recorded yet.
///
/// The notifications are looked up by `= ANY` of the ids, not by a join
/// with the reports: in notifier-bench the table grows from empty to 20,000
/// sent rows between two analyses, and the join was planned as a hash of
/// the whole index, twice (24 ms per batch of 80 in the bench, a third of
/// its database time; `EXPLAIN ANALYZE` on 20,000 sent rows: 17 ms by the
/// join, 2.9 ms by the ids).
pub(crate) async fn apply_reports(
    pool: &PgPool,
    reports: &[StatusReport<'_>],
) -> anyhow::Result<HashSet<String>> {
    if reports.is_empty() {
        return Ok(HashSet::new());
    }
    let known = sqlx::query_scalar!(
        "WITH report AS ( \
             SELECT DISTINCT ON (message_id) message_id, status, error \
             FROM unnest($1::text[], $2::text[], $3::text[]) AS r(message_id, status, error) \
             ORDER BY message_id, status_rank(status) DESC), \
         moved AS ( \
             UPDATE notifications n SET status = r.status, \
                 last_error = coalesce(r.error, n.last_error), update_time = now() \
             FROM report r \
             WHERE n.provider_message_id = ANY($1) AND n.provider_message_id = r.message_id \
               AND status_rank(n.status) < status_rank(r.status)) \
         SELECT DISTINCT provider_message_id AS \"id!\" \
         FROM notifications WHERE provider_message_id = ANY($1)",
        &reports
            .iter()
            .map(|r| r.provider_message_id)
            .collect::<Vec<_>>() as _,
        &reports.iter().map(|r| r.status.as_db()).collect::<Vec<_>>() as _,
        &reports.iter().map(|r| r.error).collect::<Vec<_>>() as _,
    )
    .fetch_all(pool)
    .await
    .context("cannot apply status reports")?;
    Ok(known.into_iter().collect())
}

pub(crate) async fn get(pool: &PgPool, id: Uuid) -> anyhow::Result<Option<Notification>> {
    let row = notification_query!("SELECT ", " FROM notifications n WHERE n.id = $1", id)
        .fetch_optional(pool)
        .await
        .context("cannot read a notification")?;
    row.map(Notification::try_from).transpose()
}

/// The tasks a message (one notification, or a digest) was about.
pub(crate) async fn tasks_of_message(
    pool: &PgPool,
    id: Uuid,
) -> anyhow::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!(
        "SELECT task_id, user_id FROM notifications \
         WHERE id = $1 OR batch_id = (SELECT batch_id FROM notifications WHERE id = $1)",
        id,
    )
    .fetch_all(pool)
    .await
    .context("cannot read the tasks of a message")?;
    Ok(rows.into_iter().map(|r| (r.task_id, r.user_id)).collect())
}

/// A page of a user's notifications, newest first, after `after`
/// (`create_time`, `id`) when given.
pub(crate) async fn list(
    pool: &PgPool,
    user: &str,
    statuses: &[Status],
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> anyhow::Result<Vec<Notification>> {
    let rows = notification_query!(
        "SELECT ",
        " FROM notifications n \
         WHERE n.user_id = $1 \
           AND (cardinality($2::text[]) = 0 OR n.status = ANY($2)) \
           AND ($3::timestamptz IS NULL OR (n.create_time, n.id) < ($3, $4::uuid)) \
         ORDER BY n.create_time DESC, n.id DESC LIMIT $5",
        user,
        statuses as _,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit,
    )
    .fetch_all(pool)
    .await
    .context("cannot list notifications")?;
    read_all(rows)
}
