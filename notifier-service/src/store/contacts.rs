//! The `contacts` table: the contact resource, the 24-hour window, and the
//! per-recipient pacing the delivery engine reserves.

use anyhow::Context;
use chrono::{DateTime, NaiveTime, Utc};
use sqlx::{PgExecutor, PgPool};

use super::numbers::Asking;
use crate::domain::{
    Contact, ContactSpec, Locale, NumberState, Pacing, PhoneNumber, QuietHours, UserId, Zone,
};

/// A checked query returning [`ContactRow`]s: `$head`, every column, `$tail`.
///
/// Both lookups are scalar subqueries, one index probe per contact: as an
/// `EXISTS`, PostgreSQL may hash the whole `confirmations` table instead, and
/// did for the engine's batches of ~250 contacts (18 ms each with 20,000
/// confirmations, against 2.6 ms; `EXPLAIN ANALYZE`).
macro_rules! contact_query {
    ($head:literal, $tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            ContactRow,
            $head + "user_id, phone_number, time_zone, locale, whatsapp_opt_in, quiet_start, \
                quiet_end, window_expire_time, next_send_time, pair_limited, create_time, \
                update_time, \
                coalesce((SELECT true FROM confirmations cf \
                    WHERE cf.phone_number = contacts.phone_number \
                    AND cf.user_id = contacts.user_id), false) AS \"confirmed!\", \
                coalesce((SELECT nb.stopped FROM numbers nb \
                    WHERE nb.phone_number = contacts.phone_number), false) AS \"stopped!\"" + $tail
            $(, $arg)*
        )
    };
}

#[derive(Clone)]
struct ContactRow {
    user_id: String,
    phone_number: String,
    time_zone: String,
    locale: String,
    whatsapp_opt_in: bool,
    quiet_start: Option<NaiveTime>,
    quiet_end: Option<NaiveTime>,
    window_expire_time: Option<DateTime<Utc>>,
    next_send_time: DateTime<Utc>,
    pair_limited: i32,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    confirmed: bool,
    stopped: bool,
}

impl ContactRow {
    fn into_contact(self) -> Contact {
        let zone = Zone::parse(&self.time_zone).unwrap_or_else(|_| {
            // Only parsed zones are written; a zone dropped from a newer tz
            // database falls back to UTC rather than failing a send.
            tracing::warn!(user = %self.user_id, zone = %self.time_zone, "unknown zone; using UTC");
            Zone(chrono_tz::UTC)
        });
        Contact {
            spec: ContactSpec {
                user: UserId::from_stored(self.user_id),
                phone_number: PhoneNumber::from_stored(self.phone_number),
                zone,
                locale: Locale::from_stored(self.locale),
                whatsapp_opt_in: self.whatsapp_opt_in,
                quiet_hours: match (self.quiet_start, self.quiet_end) {
                    (Some(start), Some(end)) => Some(QuietHours { start, end }),
                    _ => None,
                },
            },
            number: NumberState {
                confirmed: self.confirmed,
                stopped: self.stopped,
            },
            window_expire_time: self.window_expire_time,
            pacing: Pacing {
                next_send_time: self.next_send_time,
                pair_limited: u32::try_from(self.pair_limited).unwrap_or(0),
            },
            create_time: self.create_time,
            update_time: self.update_time,
        }
    }
}

/// Creates or replaces a contact, in one transaction with its number's
/// state: `confirmed` (an admin's or service's word) confirms the number
/// for this user; an opted-in contact whose number has neither confirmed
/// for this user nor sent STOP is
/// owed a confirmation request, unless one went out in the last 24 hours.
/// A new number's window is what its own messages to us opened. Returns
/// the contact and what its number is asked; over the user's limit of
/// requests nothing is written.
pub(crate) async fn upsert(
    pool: &PgPool,
    spec: &ContactSpec,
    confirmed: bool,
) -> anyhow::Result<(Contact, Asking)> {
    let mut tx = pool.begin().await.context("contacts: upsert failed")?;
    sqlx::query!(
        "INSERT INTO contacts (user_id, phone_number, time_zone, locale, whatsapp_opt_in, \
             quiet_start, quiet_end, window_expire_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, \
             (SELECT max(receive_time) + interval '24 hours' FROM inbound \
              WHERE from_number = $2 AND kind <> 'status')) \
         ON CONFLICT (user_id) DO UPDATE SET phone_number = EXCLUDED.phone_number, \
             time_zone = EXCLUDED.time_zone, locale = EXCLUDED.locale, \
             whatsapp_opt_in = EXCLUDED.whatsapp_opt_in, quiet_start = EXCLUDED.quiet_start, \
             quiet_end = EXCLUDED.quiet_end, update_time = now(), \
             window_expire_time = CASE WHEN contacts.phone_number = EXCLUDED.phone_number \
                 THEN contacts.window_expire_time ELSE EXCLUDED.window_expire_time END",
        spec.user.as_str(),
        spec.phone_number.as_str(),
        spec.zone.name(),
        spec.locale.as_str(),
        spec.whatsapp_opt_in,
        spec.quiet_hours.map(|q| q.start),
        spec.quiet_hours.map(|q| q.end),
    )
    .execute(&mut *tx)
    .await
    .context("contacts: upsert failed")?;
    let asking = super::numbers::on_upsert(
        &mut tx,
        &spec.phone_number,
        &spec.user,
        spec.whatsapp_opt_in,
        confirmed,
    )
    .await?;
    let contact = get(&mut *tx, &spec.user)
        .await?
        .context("contacts: the upserted contact is gone")?;
    if asking != Asking::OverUserLimit {
        tx.commit().await.context("contacts: upsert failed")?;
    }
    Ok((contact, asking))
}

pub(crate) async fn get(
    executor: impl PgExecutor<'_>,
    user: &UserId,
) -> anyhow::Result<Option<Contact>> {
    let row = contact_query!(
        "SELECT ",
        " FROM contacts WHERE user_id = $1",
        user.as_str()
    )
    .fetch_optional(executor)
    .await
    .context("contacts: get failed")?;
    Ok(row.map(ContactRow::into_contact))
}

/// Deletes a contact and forgets its number at once: what the number said,
/// and the webhook records from it, unless another contact still uses it.
pub(crate) async fn delete(pool: &PgPool, user: &UserId) -> anyhow::Result<bool> {
    let mut tx = pool.begin().await.context("contacts: delete failed")?;
    let number = sqlx::query_scalar!(
        "DELETE FROM contacts WHERE user_id = $1 RETURNING phone_number",
        user.as_str(),
    )
    .fetch_optional(&mut *tx)
    .await
    .context("contacts: delete failed")?;
    if let Some(number) = &number {
        sqlx::query!(
            "DELETE FROM confirmations WHERE phone_number = $1 AND user_id = $2",
            number,
            user.as_str(),
        )
        .execute(&mut *tx)
        .await
        .context("contacts: cannot forget the confirmation")?;
        sqlx::query!(
            "WITH unused AS (SELECT $1::text AS n \
                 WHERE NOT EXISTS (SELECT FROM contacts WHERE phone_number = $1)), \
             numbers_gone AS (DELETE FROM numbers WHERE phone_number IN (SELECT n FROM unused)) \
             DELETE FROM inbound WHERE from_number IN (SELECT n FROM unused)",
            number,
        )
        .execute(&mut *tx)
        .await
        .context("contacts: cannot forget the number")?;
    }
    tx.commit().await.context("contacts: delete failed")?;
    Ok(number.is_some())
}

/// The contacts naming this number.
pub(crate) async fn for_number(
    pool: &PgPool,
    number: &PhoneNumber,
) -> anyhow::Result<Vec<Contact>> {
    let rows = contact_query!(
        "SELECT ",
        " FROM contacts WHERE phone_number = $1",
        number.as_str()
    )
    .fetch_all(pool)
    .await
    .context("contacts: for_number failed")?;
    Ok(rows.into_iter().map(ContactRow::into_contact).collect())
}

/// The contacts of these users, with their pacing state.
pub(crate) async fn for_users(pool: &PgPool, users: &[String]) -> anyhow::Result<Vec<Contact>> {
    let rows = contact_query!("SELECT ", " FROM contacts WHERE user_id = ANY($1)", users)
        .fetch_all(pool)
        .await
        .context("cannot read contacts")?;
    Ok(rows.into_iter().map(ContactRow::into_contact).collect())
}

/// Reserves the next send slot of each user whose last one has passed, and
/// returns the users it reserved. Atomic per row, so two senders (or two
/// replicas) never both send to one recipient within `gap`.
pub(crate) async fn reserve_send_slots(
    pool: &PgPool,
    users: &[String],
    gap: std::time::Duration,
) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar!(
        "UPDATE contacts SET next_send_time = now() + make_interval(secs => $2) \
         WHERE user_id = ANY($1) AND next_send_time <= now() RETURNING user_id",
        users,
        gap.as_secs_f64(),
    )
    .fetch_all(pool)
    .await
    .context("contacts: reserve_send_slots failed")
}

/// After a 131056: nothing to this user before `until`; counts the streak.
pub(crate) async fn pair_limited(
    pool: &PgPool,
    user: &str,
    until: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE contacts SET next_send_time = greatest(next_send_time, $2), \
             pair_limited = pair_limited + 1 WHERE user_id = $1",
        user,
        until,
    )
    .execute(pool)
    .await
    .map(drop)
    .context("contacts: pair_limited failed")
}

/// After a message went through: the 131056 streak is over.
pub(crate) async fn clear_pair_limits(pool: &PgPool, users: &[String]) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE contacts SET pair_limited = 0 WHERE user_id = ANY($1) AND pair_limited > 0",
        users,
    )
    .execute(pool)
    .await
    .map(drop)
    .context("contacts: clear_pair_limits failed")
}

pub(crate) async fn set_opt_in_by_user(
    pool: &PgPool,
    user: &str,
    opt_in: bool,
) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE contacts SET whatsapp_opt_in = $2, update_time = now() WHERE user_id = $1",
        user,
        opt_in,
    )
    .execute(pool)
    .await
    .map(drop)
    .context("contacts: set_opt_in_by_user failed")
}

/// Any inbound message opens (or extends) the 24-hour window.
pub(crate) async fn open_window<'e>(
    executor: impl PgExecutor<'e>,
    number: &PhoneNumber,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE contacts SET window_expire_time = \
             greatest(window_expire_time, $2::timestamptz + interval '24 hours') \
         WHERE phone_number = $1",
        number.as_str(),
        at,
    )
    .execute(executor)
    .await
    .map(drop)
    .context("contacts: open_window failed")
}

/// The users whose contact has this number.
pub(crate) async fn users_with_number(
    pool: &PgPool,
    number: &PhoneNumber,
) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT user_id FROM contacts WHERE phone_number = $1",
        number.as_str(),
    )
    .fetch_all(pool)
    .await
    .context("contacts: users_with_number failed")
}

/// Reserves the send slot of the contacts with this number for a message
/// outside the engine (a STOP/START confirmation). `None` when reserved;
/// otherwise when the slot frees.
pub(crate) async fn reserve_slot_by_number(
    pool: &PgPool,
    number: &PhoneNumber,
    gap: std::time::Duration,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let mut tx = pool
        .begin()
        .await
        .context("contacts: reserve_slot_by_number failed")?;
    let busy_until: Option<DateTime<Utc>> = sqlx::query_scalar!(
        "SELECT max(next_send_time) FROM contacts WHERE phone_number = $1 AND next_send_time > now()",
        number.as_str(),
    )
    .fetch_one(&mut *tx)
    .await.context("contacts: reserve_slot_by_number failed")?;
    if busy_until.is_some() {
        return Ok(busy_until);
    }
    sqlx::query!(
        "UPDATE contacts SET next_send_time = now() + make_interval(secs => $2) \
         WHERE phone_number = $1",
        number.as_str(),
        gap.as_secs_f64(),
    )
    .execute(&mut *tx)
    .await
    .context("contacts: reserve_slot_by_number failed")?;
    tx.commit()
        .await
        .context("contacts: reserve_slot_by_number failed")?;
    Ok(None)
}
