//! Forgetting what is finished after `NOTIFIER_RETENTION`: delivered, read,
//! failed and skipped notifications, processed webhook records, the states
//! of closed tasks; applied event ids after a week; strangers' answers
//! after a day. Each in batches of
//! [`BATCH`] rows, so no statement holds locks or WAL for long.

use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;

/// Rows per statement.
pub(crate) const BATCH: i64 = 1000;

/// How many rows one batch deleted, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub notifications: u64,
    pub inbound: u64,
    pub task_states: u64,
    pub inbox: u64,
    pub strangers: u64,
}

impl Pruned {
    pub(crate) fn total(self) -> u64 {
        self.notifications + self.inbound + self.task_states + self.inbox + self.strangers
    }
}

/// One batch from each table; call again while it deletes anything.
pub(crate) async fn prune_batch(pool: &PgPool, retention: Duration) -> anyhow::Result<Pruned> {
    let secs = retention.as_secs_f64();
    let notifications = sqlx::query!(
        "DELETE FROM notifications WHERE id IN ( \
             SELECT id FROM notifications \
             WHERE status IN ('DELIVERED', 'READ', 'FAILED', 'SKIPPED') \
               AND update_time < now() - make_interval(secs => $1) LIMIT $2)",
        secs,
        BATCH,
    )
    .execute(pool)
    .await
    .context("cannot prune notifications")?
    .rows_affected();
    let inbound = sqlx::query!(
        "DELETE FROM inbound WHERE key IN ( \
             SELECT key FROM inbound \
             WHERE done_time IS NOT NULL AND done_time < now() - make_interval(secs => $1) \
             LIMIT $2)",
        secs,
        BATCH,
    )
    .execute(pool)
    .await
    .context("cannot prune webhook records")?
    .rows_affected();
    let task_states = sqlx::query!(
        "DELETE FROM task_states WHERE task_id IN ( \
             SELECT task_id FROM task_states \
             WHERE state IN ('TASK_STATE_COMPLETED', 'TASK_STATE_ARCHIVED', \
                             'TASK_STATE_CANCELLED', 'DELETED') \
               AND seen_time < now() - make_interval(secs => $1) LIMIT $2)",
        secs,
        BATCH,
    )
    .execute(pool)
    .await
    .context("cannot prune task states")?
    .rows_affected();
    // task-service republishes only within minutes; (task, reminder time)
    // still dedupes after a week.
    let inbox = sqlx::query!(
        "DELETE FROM inbox WHERE event_id IN ( \
             SELECT event_id FROM inbox WHERE receive_time < now() - interval '7 days' LIMIT $1)",
        BATCH,
    )
    .execute(pool)
    .await
    .context("cannot forget old event ids")?
    .rows_affected();
    // A stranger's answer bounds one day; after it the row means nothing.
    let strangers = sqlx::query!(
        "DELETE FROM stranger_answers WHERE phone_number IN ( \
             SELECT phone_number FROM stranger_answers \
             WHERE answer_time < now() - interval '24 hours' LIMIT $1)",
        BATCH,
    )
    .execute(pool)
    .await
    .context("cannot forget strangers' answers")?
    .rows_affected();
    Ok(Pruned {
        strangers,
        notifications,
        inbound,
        task_states,
        inbox,
    })
}
