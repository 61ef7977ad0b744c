//! Group commit for webhook deliveries (`todogenie_common::group_commit`):
//! deliveries that arrive while earlier ones are being recorded are
//! recorded together, one statement and one commit, and each is answered
//! only after that commit. A delivery is never answered 200 before its
//! reports are durable, and one that fails in a batch is recorded again
//! alone, so a bad delivery gets its own 500 and no one else's.
//!
//! Measured with notifier-bench (two status webhooks per message): one
//! transaction per delivery held the notifier to 687–757 messages/s at
//! `WHATSAPP_MAX_MPS=1000` on this 2-core machine, against 959–973 with
//! status webhooks off; see README.

use sqlx::PgPool;
use todogenie_common::group_commit::{GroupCommit, Limits, Writer};

use crate::store::inbound::{self, Report};

/// Two writers: one records while the other's batch gathers. 64 deliveries
/// per statement at most (a delivery holds at most a few hundred reports);
/// 1,024 may wait (the HTTP server's concurrency limit bounds the callers).
const LIMITS: Limits = Limits {
    writers: 2,
    max_batch: 64,
    queue: 1024,
};

struct Deliveries {
    pool: PgPool,
}

impl Writer for Deliveries {
    /// One webhook delivery's reports.
    type Item = Vec<Report>;
    /// How many of them were new.
    type Answer = u64;
    const OPERATION: &'static str = "record_reports";
    const BATCH_METRIC: &'static str = "webhook_record_batch_size";

    async fn batch(&self, deliveries: &[Vec<Report>]) -> anyhow::Result<Vec<u64>> {
        inbound::record_batch(&self.pool, deliveries).await
    }

    async fn alone(&self, reports: &Vec<Report>) -> anyhow::Result<u64> {
        let new = inbound::record_batch(&self.pool, std::slice::from_ref(reports)).await?;
        Ok(new.iter().sum())
    }
}

/// Where webhook handlers record what they were told.
#[derive(Clone)]
pub(crate) struct Intake {
    deliveries: GroupCommit<Deliveries>,
}

impl Intake {
    pub(crate) fn start(pool: PgPool) -> Self {
        Self {
            deliveries: GroupCommit::start(Deliveries { pool }, LIMITS),
        }
    }

    /// Records one delivery's reports; how many were new.
    pub(crate) async fn record(&self, reports: Vec<Report>) -> anyhow::Result<u64> {
        Ok(self.deliveries.write(reports).await?.1)
    }
}
