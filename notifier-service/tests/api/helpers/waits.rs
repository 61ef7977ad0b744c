//! Waiting on what a test's notifier did: an event applied, a task's
//! notification in a state, nothing left to send. Each polls the database
//! with a deadline, never a fixed sleep.

use std::time::Duration;

use todogenie_standin::Sent;

use super::{poll, Pair};

impl Pair {
    /// Waits until no notification is pending (`QUEUED`, in flight
    /// included, or `DEFERRED`): the delivery engine has nothing left to
    /// send, and what it sent is already at the stand-in (a row becomes
    /// `SENT` only once the provider answered).
    pub async fn wait_nothing_pending(&self, within: Duration) {
        poll(within, "no notification left pending", || async {
            let pending: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM notifications WHERE status IN ('QUEUED', 'DEFERRED')",
            )
            .fetch_one(&self.pool)
            .await
            .unwrap();
            pending == 0
        })
        .await;
    }

    /// Waits for a first message, then until nothing is pending: every
    /// message the engine will send for what it holds is at the stand-in
    /// (what a digest left out would still be pending). Returns them all.
    pub async fn wait_settled(&self, within: Duration) -> Vec<Sent> {
        self.standin
            .wait_for(within, "a first message", |s| !s.is_empty())
            .await;
        self.wait_nothing_pending(within).await;
        self.standin.sent()
    }

    /// Waits until the consumer has applied the event `id` (its inbox row is
    /// committed with the batch's effects, and batches are applied in the
    /// queue's order, so every message ahead of it has been applied too).
    pub async fn wait_applied(&self, id: uuid::Uuid, within: Duration) {
        poll(within, "the event applied", || async {
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM inbox WHERE event_id = $1)")
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .unwrap()
        })
        .await;
    }

    /// The notification rows of a task, read straight from the database.
    pub async fn notifications_of(
        &self,
        task_id: uuid::Uuid,
    ) -> Vec<(String, i32, Option<String>, String)> {
        sqlx::query_as(
            "SELECT status, attempts, last_error, channel FROM notifications WHERE task_id = $1",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// Waits until the task's one notification has `status`; returns it.
    pub async fn wait_status(
        &self,
        task_id: uuid::Uuid,
        status: &str,
        within: Duration,
    ) -> (String, i32, Option<String>, String) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let rows = self.notifications_of(task_id).await;
            if let [row] = rows.as_slice() {
                if row.0 == status {
                    return row.clone();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "notification of {task_id} did not become {status}: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
