//! The reminder scheduler: at each fire time it takes the due reminders
//! (`FOR UPDATE SKIP LOCKED`, so several replicas share the work and each
//! reminder fires once), writes their `task.due` events to the outbox and
//! removes them, in one transaction. It also makes the next occurrence of
//! recurring tasks whose due time has passed. It sleeps until the next fire
//! time; new reminders wake it early (see `wake`). "Now" is always the
//! database's, the clock every replica shares.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::events::{TaskEvent, TraceParent};
use crate::service::recurrence::spawn_next;
use crate::store;
use crate::wake::Wake;
/// Longest sleep when nothing is scheduled (a missed NOTIFY costs this much).
const MAX_SLEEP: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub(crate) struct Scheduler {
    pool: PgPool,
    wake: Wake,
    /// Reminders (and recurring tasks) per transaction.
    pub batch: i64,
}

impl Scheduler {
    pub(crate) fn new(pool: PgPool, wake: Wake) -> Self {
        Self {
            pool,
            wake,
            batch: 1000,
        }
    }

    /// Fires what is due now; returns how many reminders and recurring tasks
    /// it handled (0: nothing was due).
    pub(crate) async fn run_once(&self) -> anyhow::Result<usize> {
        let done = self.fire_due_reminders().await? + self.continue_series().await?;
        if done > 0 {
            self.wake.outbox_written();
            self.wake.schedule_changed();
        }
        Ok(done)
    }

    #[tracing::instrument(name = "sql transaction", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation = "fire_due_reminders"))]
    async fn fire_due_reminders(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let store::schedule::Due {
            now,
            reminders: due,
        } = store::schedule::take_due_reminders(&mut tx, self.batch).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let ids: Vec<uuid::Uuid> = due.iter().map(|(id, _)| *id).collect();
        let open: HashMap<uuid::Uuid, crate::domain::Task> =
            store::schedule::open_tasks(&mut tx, &ids)
                .await?
                .into_iter()
                .map(|t| (t.id, t))
                .collect();
        // A closed task's reminder is dropped without an event.
        let events: Vec<TaskEvent> = due
            .iter()
            .filter_map(|(id, fire_time)| {
                open.get(id)
                    .map(|task| TaskEvent::due(task, *fire_time, now))
            })
            .collect();
        let records: Vec<_> = events.iter().map(TaskEvent::to_outbox).collect();
        store::outbox::enqueue(&mut tx, &records).await?;
        tx.commit().await?;
        metrics::counter!("reminders_fired_total").increment(events.len() as u64);
        for event in &events {
            if let Some(fire_time) = event.reminder_time {
                let lag = (now - fire_time).to_std().unwrap_or_default();
                metrics::histogram!("reminder_fire_lag_seconds").record(lag.as_secs_f64());
            }
        }
        Ok(due.len())
    }

    #[tracing::instrument(name = "sql transaction", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation = "continue_series"))]
    async fn continue_series(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let mut tasks = store::schedule::lock_passed_recurring(&mut tx, self.batch).await?;
        // Owner order: each next occurrence adds to its owner's task count
        // (a row the insert locks until commit), and a CreateTask batch
        // takes those rows in owner order too, so neither waits on the
        // other crosswise.
        tasks.sort_by(|a, b| a.owner.as_str().cmp(b.owner.as_str()));
        let count = tasks.len();
        if count == 0 {
            return Ok(0);
        }
        // The clock the due times were compared with.
        let now = store::schedule::now(&mut tx).await?;
        for mut task in tasks {
            spawn_next(&mut tx, &mut task, now, &TraceParent::new_trace()).await?;
        }
        tx.commit().await?;
        Ok(count)
    }

    /// Runs until `shutdown`, waking at each fire time.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let mut waiter = self.wake.schedule_waiter(&self.pool).await;
        while !shutdown.is_cancelled() {
            waiter.mark_seen();
            match self.run_once().await {
                // More may be due than one batch held.
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "scheduler round failed");
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
            }
            let sleep = match store::schedule::next_wake(&self.pool).await {
                // A few ms past the fire time, for the next transaction's now().
                Ok(Some(wait)) => wait + Duration::from_millis(5),
                Ok(None) => MAX_SLEEP,
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "scheduler cannot read its next wake-up"
                    );
                    Duration::from_secs(1)
                }
            };
            waiter.wait(sleep.min(MAX_SLEEP), &shutdown).await;
        }
    }
}
