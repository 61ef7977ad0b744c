//! Group commit for CreateTask (`todogenie_common::group_commit`): calls
//! that arrive while earlier ones are being written go to PostgreSQL as one
//! statement in one transaction (`store::create::insert_batch`).
//!
//! Why each caller still gets its own answer and its own error, beyond what
//! the common part guarantees:
//! - The statement gives, row by row, what `insert_new` would have: the
//!   request id's claim, the series' uniqueness and the outbox row are per
//!   row inside it, and an answer is sent only after the commit.
//! - Two calls with the same (owner, request id) never share a batch (their
//!   key), so the claim meets the first's row exactly as two separate
//!   transactions would.

use sqlx::PgPool;
use todogenie_common::group_commit::{self, Limits, Writer};

use crate::domain::Task;
use crate::store::create::{insert_batch, NewTask};
use crate::store::tasks::{insert_new, RequestKey};

/// The most calls one statement writes: beyond this the statement's
/// parameters grow without saving more commits (task-bench: batches average
/// 8–12 at 32 streams). Four writers, each holding one pooled connection
/// while it writes; 1,024 calls may wait (the gRPC server's own concurrency
/// limit bounds the callers).
const LIMITS: Limits = Limits {
    writers: 4,
    max_batch: 64,
    queue: 1024,
};

/// Writes CreateTasks' tasks, fire times, request-id claims and events.
struct Creates {
    pool: PgPool,
}

impl Writer for Creates {
    type Item = NewTask;
    /// Whether the task was inserted (not an earlier call's, by request id).
    type Answer = bool;
    const OPERATION: &'static str = "insert_batch";
    const BATCH_METRIC: &'static str = "task_create_batch_size";

    async fn batch(&self, news: &[NewTask]) -> anyhow::Result<Vec<bool>> {
        insert_batch(&self.pool, news).await
    }

    /// One call written by itself, as before group commit.
    async fn alone(&self, new: &NewTask) -> anyhow::Result<bool> {
        let key = new.key.as_ref().map(|(id, hash)| RequestKey {
            request_id: id,
            request_hash: hash,
        });
        insert_new(&self.pool, &new.task, &new.fire_times, key, &new.created).await
    }

    fn key(&self, new: &NewTask) -> Option<String> {
        // Two keys that merely look alike only split a batch.
        new.request().map(|(owner, id)| format!("{owner}\0{id}"))
    }
}

#[derive(Clone)]
pub(crate) struct GroupCommit {
    creates: group_commit::GroupCommit<Creates>,
}

impl GroupCommit {
    /// Starts the writers on `pool`; they stop when every handle is dropped.
    pub(crate) fn start(pool: PgPool) -> Self {
        Self {
            creates: group_commit::GroupCommit::start(Creates { pool }, LIMITS),
        }
    }

    /// Writes `new` with whatever else is waiting; gives its task back with
    /// whether it was inserted, as `insert_new` says.
    pub(crate) async fn insert(&self, new: NewTask) -> anyhow::Result<(Task, bool)> {
        let (new, inserted) = self.creates.write(new).await?;
        Ok((new.task, inserted))
    }
}
