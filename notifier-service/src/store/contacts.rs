//! The `contacts` table: the contact resource, the 24-hour window, and the
//! per-recipient pacing the delivery engine reserves.

use chrono::{DateTime, NaiveTime, Utc};
use sqlx::{PgExecutor, PgPool};

use crate::domain::{Contact, ContactSpec, Locale, PhoneNumber, QuietHours, UserId, Zone};

const COLUMNS: &str = "user_id, phone_number, time_zone, locale, whatsapp_opt_in, quiet_start, \
     quiet_end, window_expire_time, next_send_time, pair_limited, create_time, update_time";

#[derive(Clone, sqlx::FromRow)]
pub struct ContactRow {
    user_id: String,
    phone_number: String,
    time_zone: String,
    locale: String,
    whatsapp_opt_in: bool,
    quiet_start: Option<NaiveTime>,
    quiet_end: Option<NaiveTime>,
    window_expire_time: Option<DateTime<Utc>>,
    pub next_send_time: DateTime<Utc>,
    pub pair_limited: i32,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
}

impl ContactRow {
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    pub fn into_contact(self) -> Contact {
        Contact {
            spec: ContactSpec {
                user: UserId::from_stored(self.user_id),
                phone_number: PhoneNumber::from_stored(self.phone_number),
                // Only parsed zones are written; a zone dropped from a newer
                // tz database falls back to UTC rather than failing a send.
                zone: Zone::parse(&self.time_zone).unwrap_or(Zone(chrono_tz::UTC)),
                locale: Locale::from_stored(self.locale),
                whatsapp_opt_in: self.whatsapp_opt_in,
                quiet_hours: match (self.quiet_start, self.quiet_end) {
                    (Some(start), Some(end)) => Some(QuietHours { start, end }),
                    _ => None,
                },
            },
            window_expire_time: self.window_expire_time,
            create_time: self.create_time,
            update_time: self.update_time,
        }
    }
}

/// Creates or replaces a contact; a new number has no window with us yet.
pub async fn upsert(pool: &PgPool, spec: &ContactSpec) -> sqlx::Result<Contact> {
    let sql = format!(
        "INSERT INTO contacts (user_id, phone_number, time_zone, locale, whatsapp_opt_in, \
             quiet_start, quiet_end) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (user_id) DO UPDATE SET phone_number = EXCLUDED.phone_number, \
             time_zone = EXCLUDED.time_zone, locale = EXCLUDED.locale, \
             whatsapp_opt_in = EXCLUDED.whatsapp_opt_in, quiet_start = EXCLUDED.quiet_start, \
             quiet_end = EXCLUDED.quiet_end, update_time = now(), \
             window_expire_time = CASE WHEN contacts.phone_number = EXCLUDED.phone_number \
                 THEN contacts.window_expire_time END \
         RETURNING {COLUMNS}"
    );
    let row: ContactRow = sqlx::query_as(&sql)
        .bind(spec.user.as_str())
        .bind(spec.phone_number.as_str())
        .bind(spec.zone.name())
        .bind(spec.locale.as_str())
        .bind(spec.whatsapp_opt_in)
        .bind(spec.quiet_hours.map(|q| q.start))
        .bind(spec.quiet_hours.map(|q| q.end))
        .fetch_one(pool)
        .await?;
    Ok(row.into_contact())
}

pub async fn get(pool: &PgPool, user: &UserId) -> sqlx::Result<Option<Contact>> {
    let sql = format!("SELECT {COLUMNS} FROM contacts WHERE user_id = $1");
    let row: Option<ContactRow> = sqlx::query_as(&sql)
        .bind(user.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(ContactRow::into_contact))
}

pub async fn delete(pool: &PgPool, user: &UserId) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM contacts WHERE user_id = $1")
        .bind(user.as_str())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The contacts of these users, with their pacing state.
pub async fn for_users(pool: &PgPool, users: &[String]) -> sqlx::Result<Vec<ContactRow>> {
    let sql = format!("SELECT {COLUMNS} FROM contacts WHERE user_id = ANY($1)");
    sqlx::query_as(&sql).bind(users).fetch_all(pool).await
}

/// Reserves the next send slot of each user whose last one has passed, and
/// returns the users it reserved. Atomic per row, so two senders (or two
/// replicas) never both send to one recipient within `gap`.
pub async fn reserve_send_slots(
    pool: &PgPool,
    users: &[String],
    gap: std::time::Duration,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "UPDATE contacts SET next_send_time = now() + make_interval(secs => $2) \
         WHERE user_id = ANY($1) AND next_send_time <= now() RETURNING user_id",
    )
    .bind(users)
    .bind(gap.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// After a 131056: nothing to this user before `until`; counts the streak.
pub async fn pair_limited(pool: &PgPool, user: &str, until: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE contacts SET next_send_time = greatest(next_send_time, $2), \
             pair_limited = pair_limited + 1 WHERE user_id = $1",
    )
    .bind(user)
    .bind(until)
    .execute(pool)
    .await
    .map(drop)
}

/// After a message went through: the 131056 streak is over.
pub async fn clear_pair_limits(pool: &PgPool, users: &[String]) -> sqlx::Result<()> {
    sqlx::query("UPDATE contacts SET pair_limited = 0 WHERE user_id = ANY($1) AND pair_limited > 0")
        .bind(users)
        .execute(pool)
        .await
        .map(drop)
}

pub async fn set_opt_in_by_user(pool: &PgPool, user: &str, opt_in: bool) -> sqlx::Result<()> {
    sqlx::query("UPDATE contacts SET whatsapp_opt_in = $2, update_time = now() WHERE user_id = $1")
        .bind(user)
        .bind(opt_in)
        .execute(pool)
        .await
        .map(drop)
}

/// STOP and START: by the number that wrote. Returns how many contacts use it.
pub async fn set_opt_in_by_number(
    pool: &PgPool,
    number: &PhoneNumber,
    opt_in: bool,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE contacts SET whatsapp_opt_in = $2, update_time = now() WHERE phone_number = $1",
    )
    .bind(number.as_str())
    .bind(opt_in)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Any inbound message opens (or extends) the 24-hour window.
pub async fn open_window<'e>(
    executor: impl PgExecutor<'e>,
    number: &PhoneNumber,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE contacts SET window_expire_time = \
             greatest(window_expire_time, $2 + interval '24 hours') \
         WHERE phone_number = $1",
    )
    .bind(number.as_str())
    .bind(at)
    .execute(executor)
    .await
    .map(drop)
}

/// The users whose contact has this number.
pub async fn users_with_number(pool: &PgPool, number: &PhoneNumber) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT user_id FROM contacts WHERE phone_number = $1")
        .bind(number.as_str())
        .fetch_all(pool)
        .await
}

/// Reserves the send slot of the contacts with this number for a message
/// outside the engine (a STOP/START confirmation). `None` when reserved;
/// otherwise when the slot frees.
pub async fn reserve_slot_by_number(
    pool: &PgPool,
    number: &PhoneNumber,
    gap: std::time::Duration,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    let mut tx = pool.begin().await?;
    let busy_until: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT max(next_send_time) FROM contacts WHERE phone_number = $1 AND next_send_time > now()",
    )
    .bind(number.as_str())
    .fetch_one(&mut *tx)
    .await?;
    if busy_until.is_some() {
        return Ok(busy_until);
    }
    sqlx::query(
        "UPDATE contacts SET next_send_time = now() + make_interval(secs => $2) \
         WHERE phone_number = $1",
    )
    .bind(number.as_str())
    .bind(gap.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(None)
}
