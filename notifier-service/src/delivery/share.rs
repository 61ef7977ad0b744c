//! This replica's share of the account's `WHATSAPP_MAX_MPS`: live replicas
//! announce themselves with a heartbeat in PostgreSQL (`store::senders`),
//! and each sends at the smallest configured limit divided by their number.
//!
//! Why the sum never goes over the limit:
//! - A share is valid for `VALID_FOR` after the heartbeat that computed it
//!   was *sent*; without a newer one the limiter gives no slot. So a replica
//!   that stops renewing (hung, cut off, killed) stops sending before
//!   `DEAD_AFTER`, when the others stop counting it and grow their shares.
//! - A replica that joins while others are live waits `VALID_FOR` (plus a
//!   margin) before its first slot: by then every other has renewed and
//!   counted it, or its old share has run out. Joins are serialised, so two
//!   replicas starting together never each see itself alone.
//! - One that leaves stops sending, then deletes its row: the others grow
//!   at their next heartbeat.
//! - A replica whose row went stale comes back as a joiner, waiting again.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use todogenie_common::backoff::backoff;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::RateLimiter;
use crate::store::senders::{self, Beat, Senders};

/// How often a replica renews its heartbeat and re-reads its share.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a share holds without a newer heartbeat.
pub(crate) const VALID_FOR: Duration = Duration::from_secs(3);
/// A heartbeat older than this is a dead replica's.
pub(crate) const DEAD_AFTER: Duration = Duration::from_secs(5);
/// Beyond `VALID_FOR`, for slots already given and clocks' small drift.
const JOIN_MARGIN: Duration = Duration::from_millis(500);

/// This replica's place among the senders.
pub(crate) struct Share {
    pub id: Uuid,
    pub max_mps: u32,
    pub limiter: Arc<RateLimiter>,
    /// No slot before this: a joiner's wait for the others to count it.
    not_before: std::sync::Mutex<Instant>,
}

impl Share {
    pub(crate) fn new(max_mps: u32) -> Self {
        Self {
            id: Uuid::now_v7(),
            max_mps,
            limiter: Arc::new(RateLimiter::paused()),
            not_before: std::sync::Mutex::new(Instant::now()),
        }
    }

    /// Joins at once (a replica that cannot reach its database does not
    /// start), then renews every `HEARTBEAT` until `shutdown`.
    pub(crate) async fn join(&self, pool: &PgPool) -> sqlx::Result<()> {
        let sent = Instant::now();
        let senders = senders::join(pool, self.id, self.max_mps, DEAD_AFTER).await?;
        self.joined(sent, senders);
        Ok(())
    }

    pub(crate) async fn run(self: Arc<Self>, pool: PgPool, shutdown: CancellationToken) {
        let mut failures = 0;
        loop {
            let wait = if failures == 0 {
                HEARTBEAT
            } else {
                backoff(failures).min(HEARTBEAT)
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            let sent = Instant::now();
            let result = match senders::beat(&pool, self.id, DEAD_AFTER).await {
                Ok(Beat::Kept(senders)) => {
                    self.apply(sent, senders);
                    Ok(())
                }
                Ok(Beat::Lost) => {
                    tracing::warn!("this replica's heartbeat went stale: it joins again");
                    senders::join(&pool, self.id, self.max_mps, DEAD_AFTER)
                        .await
                        .map(|senders| self.joined(sent, senders))
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(
                        error = format!("{e:#}"),
                        failures,
                        "cannot renew this replica's send share; it lapses {VALID_FOR:?} after the last renewal"
                    );
                }
            }
        }
    }

    /// Stops giving slots and deletes this replica's row (call once its
    /// workers have stopped: one that outlived the shutdown deadline sends
    /// nothing more either).
    pub(crate) async fn leave(&self, pool: &PgPool) {
        self.limiter.pause();
        if let Err(e) = senders::leave(pool, self.id).await {
            tracing::warn!(
                error = format!("{e:#}"),
                "cannot leave the senders; the others take this share after {DEAD_AFTER:?}"
            );
        }
    }

    /// After a join: alone, send at once; with others, once they have all
    /// seen this replica.
    fn joined(&self, sent: Instant, senders: Senders) {
        if senders.live > 1 {
            *self.not_before.lock().expect("never poisoned") = sent + VALID_FOR + JOIN_MARGIN;
        }
        self.apply(sent, senders);
    }

    /// The share a heartbeat sent at `sent` computed, valid `VALID_FOR`.
    fn apply(&self, sent: Instant, senders: Senders) {
        let rate = f64::from(senders.max_mps) / f64::from(senders.live);
        let start = (*self.not_before.lock().expect("never poisoned")).max(sent);
        self.limiter.set(rate, start, sent + VALID_FOR);
        metrics::gauge!("notifier_send_share_mps").set(rate);
        metrics::gauge!("notifier_senders_live").set(f64::from(senders.live));
    }
}
