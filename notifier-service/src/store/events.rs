//! Applying a batch of consumed events in one transaction: the inbox makes a
//! redelivered or republished event a no-op, `task_states` follows each
//! task's state, and each `task.due` makes at most one notification.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{EventKind, TaskEvent};

/// How far back `gather_siblings` looks for reminders still waiting: a
/// digest's reminders arrive within seconds of each other, and the bound
/// keeps the look to a user's newest rows.
const SIBLINGS_WITHIN: Duration = Duration::from_secs(60);

/// How many of a batch were new, and how many notifications they queued.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Applied {
    pub new_events: usize,
    pub notifications: usize,
}

/// Commits the effect of `events` (in their order) or nothing. A reminder
/// waits `gather` past its time, or past its arrival when it arrives late,
/// so reminders of one recipient that fall due together reach the engine
/// together, as one digest; see `gather_siblings`.
#[tracing::instrument(name = "sql transaction", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation = "apply"))]
pub(crate) async fn apply(
    pool: &PgPool,
    events: &[TaskEvent],
    gather: Duration,
) -> anyhow::Result<Applied> {
    let mut tx = pool.begin().await.context("cannot begin applying events")?;
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let fresh: Vec<Uuid> = sqlx::query_scalar!(
        "INSERT INTO inbox (event_id) SELECT unnest($1::uuid[]) \
         ON CONFLICT DO NOTHING RETURNING event_id",
        &ids,
    )
    .fetch_all(&mut *tx)
    .await
    .context("cannot record event ids in the inbox")?;
    let mut fresh: std::collections::HashSet<Uuid> = fresh.into_iter().collect();
    // The first copy of an id in the batch counts; later copies are repeats.
    let new: Vec<&TaskEvent> = events.iter().filter(|e| fresh.remove(&e.id)).collect();

    // One row per task (an upsert may touch a row once per statement): the
    // newest news, and a deletion over everything.
    let mut latest: HashMap<Uuid, &TaskEvent> = HashMap::new();
    for event in &new {
        let keep = latest.get(&event.task_id).is_none_or(|seen| {
            seen.kind != EventKind::Deleted
                && (event.kind == EventKind::Deleted || event.version >= seen.version)
        });
        if keep {
            latest.insert(event.task_id, event);
        }
    }
    let task_ids: Vec<Uuid> = latest.keys().copied().collect();
    let users: Vec<&str> = latest.values().map(|e| e.owner.as_str()).collect();
    let states: Vec<&str> = latest.values().map(|e| e.followed_state()).collect();
    let versions: Vec<i64> = latest.values().map(|e| e.version).collect();
    sqlx::query!(
        "INSERT INTO task_states (task_id, user_id, state, version) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[]) \
         ON CONFLICT (task_id) DO UPDATE SET user_id = EXCLUDED.user_id, \
             state = EXCLUDED.state, version = EXCLUDED.version, seen_time = now() \
         WHERE task_states.state <> 'DELETED' \
           AND (EXCLUDED.state = 'DELETED' OR EXCLUDED.version >= task_states.version)",
        &task_ids,
        &users as _,
        &states as _,
        &versions,
    )
    .execute(&mut *tx)
    .await
    .context("cannot follow task states")?;

    let due: Vec<(&TaskEvent, DateTime<Utc>)> = new
        .iter()
        .filter(|e| e.kind == EventKind::Due)
        .filter_map(|e| e.reminder_time.map(|at| (*e, at)))
        .collect();
    let gather = gather.as_secs_f64();
    gather_siblings(&mut tx, &due, gather).await?;
    let notifications = sqlx::query!(
        "INSERT INTO notifications (id, user_id, task_id, event_id, reminder_time, task_title, \
             due_time, scheduled_time, traceparent) \
         SELECT id, user_id, task_id, event_id, reminder_time, task_title, due_time, \
             greatest(reminder_time, now()) + make_interval(secs => $8), traceparent \
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], \
             $5::timestamptz[], $6::text[], $7::timestamptz[], $9::text[]) \
             AS v(id, user_id, task_id, event_id, reminder_time, task_title, due_time, traceparent) \
         ON CONFLICT (task_id, reminder_time) DO NOTHING",
        &due.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>() as _,
        &due.iter()
            .map(|(e, _)| e.owner.as_str())
            .collect::<Vec<_>>() as _,
        &due.iter().map(|(e, _)| e.task_id).collect::<Vec<_>>() as _,
        &due.iter().map(|(e, _)| e.id).collect::<Vec<_>>() as _,
        &due.iter().map(|(_, at)| *at).collect::<Vec<_>>() as _,
        &due.iter()
            .map(|(e, _)| e.title.as_str())
            .collect::<Vec<_>>() as _,
        &due.iter().map(|(e, _)| e.due_time).collect::<Vec<_>>() as _,
        gather,
        &due.iter()
            .map(|(e, _)| e.traceparent.as_deref())
            .collect::<Vec<_>>() as _,
    )
    .execute(&mut *tx)
    .await
    .context("cannot queue notifications")?
    .rows_affected();
    tx.commit().await.context("cannot commit events")?;
    Ok(Applied {
        new_events: new.len(),
        notifications: usize::try_from(notifications).unwrap_or(usize::MAX),
    })
}

/// Reminders of one recipient and one time that arrive in several batches
/// (a relay gives them to the broker in pieces, the consumer takes them in
/// pieces, and under load the pieces can come later than `gather` after the
/// reminder time) still make one digest: those of them already waiting
/// wait on with the newest, until `gather` after its arrival (before, a
/// late one was due at once and went alone; the claim's side of the same
/// bug is in `notifications::claim`). Only pending rows made in the last
/// `SIBLINGS_WITHIN` are looked at (`notifications_pending_user` or
/// `notifications_user` finds them), and
/// rows taken in id order, so two consumers moving the same rows wait on
/// each other rather than deadlock. A row already claimed has its lease's
/// end as `scheduled_time`, later than the new one: it is left alone.
async fn gather_siblings(
    tx: &mut sqlx::PgConnection,
    due: &[(&TaskEvent, DateTime<Utc>)],
    gather: f64,
) -> anyhow::Result<()> {
    let keys: std::collections::HashSet<(&str, DateTime<Utc>)> = due
        .iter()
        .map(|(event, at)| (event.owner.as_str(), *at))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let (users, times): (Vec<&str>, Vec<DateTime<Utc>>) = keys.into_iter().unzip();
    sqlx::query!(
        "WITH v AS ( \
             SELECT user_id, reminder_time, \
                 greatest(reminder_time, now()) + make_interval(secs => $3) AS at \
             FROM unnest($1::text[], $2::timestamptz[]) AS v(user_id, reminder_time)), \
         siblings AS ( \
             SELECT n.id, v.at FROM notifications n JOIN v \
                 ON n.user_id = v.user_id AND n.reminder_time = v.reminder_time \
             WHERE n.status = 'QUEUED' AND n.scheduled_time < v.at \
               AND n.create_time > now() - make_interval(secs => $4) \
             ORDER BY n.id FOR UPDATE OF n) \
         UPDATE notifications n SET scheduled_time = siblings.at \
         FROM siblings WHERE n.id = siblings.id",
        &users as _,
        &times,
        gather,
        SIBLINGS_WITHIN.as_secs_f64(),
    )
    .execute(tx)
    .await
    .context("cannot gather reminders that fall due together")?;
    Ok(())
}
