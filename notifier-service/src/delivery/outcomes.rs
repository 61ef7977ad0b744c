//! Group commit for send outcomes (`todogenie_common::group_commit`): the
//! outcomes of sends that finish while earlier ones are being recorded go
//! to PostgreSQL together, one statement and one commit, each still fenced
//! by its own round's claim and answered with how many rows that round
//! still held.
//!
//! Measured with notifier-bench (20,000 at once, `pg_stat_statements`): one
//! UPDATE and one commit per send was PostgreSQL's largest statement, 5.2 s
//! of its time in a 21 s run, on two cores where PostgreSQL took 55 % of
//! all CPU; see README.

use sqlx::PgPool;
use todogenie_common::group_commit::{GroupCommit, Limits, Writer};
use uuid::Uuid;

use crate::store::notifications::{self, Outcome};

/// One writer: outcomes gather while it writes (sends finish about a
/// millisecond apart at 1,000/s). An item is one batch's outcomes, or a
/// round's decided ones (at most a round, 256); at most 64 items per
/// statement, 1,024 waiting (the sends in flight bound the callers).
const LIMITS: Limits = Limits {
    writers: 1,
    max_batch: 64,
    queue: 1024,
};

struct Outcomes {
    pool: PgPool,
}

impl Writer for Outcomes {
    /// A round's claim and outcomes of rows it claimed.
    type Item = (Uuid, Vec<Outcome>);
    /// How many of those rows the claim still held.
    type Answer = u64;
    const OPERATION: &'static str = "record_outcomes";
    const BATCH_METRIC: &'static str = "outcome_record_batch_size";

    async fn batch(&self, items: &[(Uuid, Vec<Outcome>)]) -> anyhow::Result<Vec<u64>> {
        notifications::record(&self.pool, items).await
    }

    async fn alone(&self, item: &(Uuid, Vec<Outcome>)) -> anyhow::Result<u64> {
        let held = notifications::record(&self.pool, std::slice::from_ref(item)).await?;
        Ok(held.iter().sum())
    }
}

/// Where the engine records what became of its sends.
#[derive(Clone)]
pub(crate) struct Recorder {
    outcomes: GroupCommit<Outcomes>,
}

impl Recorder {
    pub(crate) fn start(pool: PgPool) -> Self {
        Self {
            outcomes: GroupCommit::start(Outcomes { pool }, LIMITS),
        }
    }

    /// Records `outcomes` for the rows `claim` still holds; how many it held.
    pub(crate) async fn record(&self, claim: Uuid, outcomes: Vec<Outcome>) -> anyhow::Result<u64> {
        Ok(self.outcomes.write((claim, outcomes)).await?.1)
    }
}
