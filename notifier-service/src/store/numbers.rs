//! The `numbers` and `confirmations` tables: what a phone number itself
//! said (which users it confirmed for; that it sent STOP), and the
//! confirmation request it is owed, claimed with a lease by the confirmer.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{PhoneNumber, UserId};

/// Numbers one user may have asked to confirm in 24 hours: enough to fix a
/// typo, too few to message strangers through us.
pub(crate) const MAX_REQUESTS_PER_USER: i64 = 3;

/// What UpsertContact's number needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asking {
    /// Nothing: confirmed, stopped, opted out, or asked in the last 24 hours.
    No,
    /// A confirmation request was queued.
    Queued,
    /// One is needed, but this user asked [`MAX_REQUESTS_PER_USER`] numbers
    /// in the last 24 hours: the caller rolls back.
    OverUserLimit,
}

/// In UpsertContact's transaction: the number's row exists; `confirmed`
/// confirms it for `user`; an opted-in contact whose number neither
/// confirmed for `user` nor
/// stopped is owed a request, at most one per number and
/// [`MAX_REQUESTS_PER_USER`] per user in 24 hours.
pub(crate) async fn on_upsert(
    conn: &mut PgConnection,
    number: &PhoneNumber,
    user: &UserId,
    opt_in: bool,
    confirmed: bool,
) -> anyhow::Result<Asking> {
    if confirmed {
        sqlx::query!(
            "INSERT INTO confirmations (phone_number, user_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
            number.as_str(),
            user.as_str(),
        )
        .execute(&mut *conn)
        .await
        .context("numbers: cannot record a confirmation")?;
    }
    let needed = sqlx::query_scalar!(
        "INSERT INTO numbers AS nb (phone_number) VALUES ($1) \
         ON CONFLICT (phone_number) DO UPDATE SET phone_number = EXCLUDED.phone_number \
         RETURNING (SELECT $2 AND NOT nb.stopped AND NOT nb.request_due \
             AND NOT EXISTS (SELECT FROM confirmations cf \
                 WHERE cf.phone_number = $1 AND cf.user_id = $3) \
             AND (nb.request_time IS NULL OR nb.request_time < now() - interval '24 hours')) \
             AS \"needed!\"",
        number.as_str(),
        opt_in,
        user.as_str(),
    )
    .fetch_one(&mut *conn)
    .await
    .context("numbers: cannot record the number")?;
    if !needed {
        return Ok(Asking::No);
    }
    let asked = sqlx::query_scalar!(
        "SELECT count(*) AS \"asked!\" FROM numbers WHERE request_user = $1 \
             AND (request_due OR request_time > now() - interval '24 hours')",
        user.as_str(),
    )
    .fetch_one(&mut *conn)
    .await
    .context("numbers: cannot count a user's requests")?;
    if asked >= MAX_REQUESTS_PER_USER {
        return Ok(Asking::OverUserLimit);
    }
    sqlx::query!(
        "UPDATE numbers SET request_due = true, request_user = $2, \
             request_next_try = now(), request_attempts = 0 \
         WHERE phone_number = $1",
        number.as_str(),
        user.as_str(),
    )
    .execute(&mut *conn)
    .await
    .context("numbers: cannot queue a confirmation request")?;
    Ok(Asking::Queued)
}

/// STOP (or No) and START (or Yes) from a number, applied in one
/// transaction with its report marked applied: a report already applied
/// changes nothing again. START lifts a STOP and confirms the number for
/// the user its request named; STOP holds until START. Returns how many contacts use the number.
pub(crate) async fn apply_opt(
    pool: &PgPool,
    report_key: &str,
    number: &PhoneNumber,
    start: bool,
) -> anyhow::Result<u64> {
    let mut tx = pool.begin().await.context("numbers: cannot begin")?;
    let first = sqlx::query_scalar!(
        "UPDATE inbound SET applied = true WHERE key = $1 AND NOT applied RETURNING key",
        report_key,
    )
    .fetch_optional(&mut *tx)
    .await
    .context("numbers: cannot mark the report applied")?
    .is_some();
    if first {
        // START (or Yes) confirms for the user the number was asked about,
        // if it was asked; it never confirms for users it was not asked about.
        sqlx::query!(
            "WITH number AS ( \
                 INSERT INTO numbers AS nb (phone_number, stopped) VALUES ($1, NOT $2) \
                 ON CONFLICT (phone_number) DO UPDATE SET stopped = NOT $2, request_due = false \
                 RETURNING nb.request_user) \
             INSERT INTO confirmations (phone_number, user_id) \
             SELECT $1, request_user FROM number WHERE $2 AND request_user IS NOT NULL \
             ON CONFLICT DO NOTHING",
            number.as_str(),
            start,
        )
        .execute(&mut *tx)
        .await
        .context("numbers: cannot apply STOP/START")?;
    }
    let contacts = sqlx::query_scalar!(
        "SELECT count(*) AS \"count!\" FROM contacts WHERE phone_number = $1",
        number.as_str(),
    )
    .fetch_one(&mut *tx)
    .await
    .context("numbers: cannot count the number's contacts")?;
    tx.commit()
        .await
        .context("numbers: cannot commit STOP/START")?;
    Ok(u64::try_from(contacts).unwrap_or(0))
}

/// A confirmation request to send.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub number: PhoneNumber,
    pub user: String,
    pub attempts: i32,
    /// The number wrote to us in the last 24 hours: buttons may be sent.
    pub window_open: bool,
}

/// Takes up to `limit` due requests, each held for `lease`.
pub(crate) async fn claim_requests(
    pool: &PgPool,
    limit: i64,
    lease: std::time::Duration,
) -> anyhow::Result<Vec<Request>> {
    let rows = sqlx::query!(
        "WITH picked AS ( \
             SELECT phone_number FROM numbers \
             WHERE request_due AND request_next_try <= now() \
             ORDER BY request_next_try LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE numbers nb SET request_next_try = now() + make_interval(secs => $2), \
             request_attempts = nb.request_attempts + 1 \
         FROM picked WHERE nb.phone_number = picked.phone_number \
         RETURNING nb.phone_number, nb.request_user, nb.request_attempts, \
             coalesce((SELECT max(c.window_expire_time) > now() FROM contacts c \
                 WHERE c.phone_number = nb.phone_number), false) AS \"window_open!\"",
        limit,
        lease.as_secs_f64(),
    )
    .fetch_all(pool)
    .await
    .context("numbers: cannot claim confirmation requests")?;
    Ok(rows
        .into_iter()
        .map(|r| Request {
            number: PhoneNumber::from_stored(r.phone_number),
            user: r.request_user.unwrap_or_default(),
            attempts: r.request_attempts,
            window_open: r.window_open,
        })
        .collect())
}

/// The request went out (or was given up): none again for 24 hours.
pub(crate) async fn request_done(pool: &PgPool, number: &PhoneNumber) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE numbers SET request_due = false, request_time = now() WHERE phone_number = $1",
        number.as_str(),
    )
    .execute(pool)
    .await
    .context("numbers: cannot finish a confirmation request")?;
    Ok(())
}

/// Try the request again at `at`.
pub(crate) async fn request_retry(
    pool: &PgPool,
    number: &PhoneNumber,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE numbers SET request_next_try = $2 WHERE phone_number = $1",
        number.as_str(),
        at,
    )
    .execute(pool)
    .await
    .context("numbers: cannot schedule a confirmation request")?;
    Ok(())
}

/// Takes the one "not linked" answer a number with no confirmed contact may
/// get per 24 hours; `false` when it had it already (race-free across
/// replicas: one statement decides).
pub(crate) async fn take_stranger_answer(
    pool: &PgPool,
    number: &PhoneNumber,
) -> anyhow::Result<bool> {
    let taken = sqlx::query_scalar!(
        "INSERT INTO stranger_answers (phone_number, answer_time) VALUES ($1, now()) \
         ON CONFLICT (phone_number) DO UPDATE SET answer_time = now() \
         WHERE stranger_answers.answer_time <= now() - interval '24 hours' \
         RETURNING 1",
        number.as_str(),
    )
    .fetch_optional(pool)
    .await
    .context("cannot take a stranger's answer")?;
    Ok(taken.is_some())
}
