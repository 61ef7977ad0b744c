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

/// How many of a batch were new, and how many notifications they queued.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Applied {
    pub new_events: usize,
    pub notifications: usize,
}

/// Commits the effect of `events` (in their order) or nothing. `gather` is
/// added to each reminder's time so reminders of one recipient that fall due
/// together reach the engine together, as one digest.
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
    let gather = chrono::Duration::from_std(gather).unwrap_or_default();
    let notifications = sqlx::query!(
        "INSERT INTO notifications (id, user_id, task_id, event_id, reminder_time, task_title, \
             due_time, scheduled_time, traceparent) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], \
             $5::timestamptz[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::text[]) \
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
        &due.iter().map(|(_, at)| *at + gather).collect::<Vec<_>>() as _,
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
