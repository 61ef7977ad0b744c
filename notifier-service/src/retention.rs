//! The retention worker: at start and hourly, deletes what is finished and
//! older than `NOTIFIER_RETENTION` (`store::retention`), batch after batch
//! until nothing is left, stopping between batches at shutdown.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::store::retention::prune_batch;

const EVERY: Duration = Duration::from_secs(3600);

pub(crate) async fn run(pool: PgPool, retention: Duration, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let mut total = 0;
        while !shutdown.is_cancelled() {
            match prune_batch(&pool, retention).await {
                Ok(pruned) if pruned.total() == 0 => break,
                Ok(pruned) => total += pruned.total(),
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "retention pass failed");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(deleted = total, "retention pass");
        }
    }
}
