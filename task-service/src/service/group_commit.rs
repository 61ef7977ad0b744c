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

/// One writer, holding one pooled connection while it writes: each batch
/// is whatever arrived during the one before, so batches grow with the load
/// and PostgreSQL sees one CreateTask statement at a time. Measured
/// (scripts/bench-create-h2load.sh, 32 streams, 2026-12-02, alternating):
/// one writer averaged 14 calls a batch and 1.08–1.19 × pgbench's rate at
/// 99–108 µs of our CPU per call; four writers averaged 4.7 calls a batch
/// and 0.80–0.94 × at 128–137 µs (more statements, more commits, more
/// wake-ups for the same work). Up to 256 calls a batch, so that one writer
/// keeps up with many callers: at 256 streams, one writer capped at 64 did
/// 8,900/s where four writers or one at 256 did 9,500–10,400/s. 1,024 calls
/// may wait (the gRPC server's own concurrency limit bounds the callers);
/// every statement ends within the RPC timeout (`statement_timeout`), so a
/// stuck one holds the queue no longer than a call may last.
const LIMITS: Limits = Limits {
    writers: 1,
    max_batch: 256,
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
