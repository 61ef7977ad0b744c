//! The outbox relay: claims committed events under a lease, publishes them
//! with confirms, deletes what the broker confirmed and gives back what it
//! did not; while the broker confirms a full batch it claims the next. It
//! wakes when events are written (see `wake`: at once in this process, by
//! LISTEN/NOTIFY from other replicas), with a slow fallback poll, and
//! rebuilds its RabbitMQ connection with backoff whenever it breaks. A row
//! is only ever deleted after its ack, so an outage delays events and loses
//! none.

pub mod publisher;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use todogenie_common::amqp::Topology;
use todogenie_common::backoff::{backoff, backoff_between};

use crate::store::outbox::{self, Claim};
use crate::wake::Wake;
pub use publisher::{Delivery, Publisher};

/// The pause after a thin batch (see `run`).
const GATHER: Duration = Duration::from_millis(10);
/// How often an idle relay looks anyway (a missed NOTIFY, expired leases).
const FALLBACK_POLL: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    amqp_url: String,
    topology: Topology,
    /// Whether the relay holds a working broker connection (for /readyz).
    broker_up: Arc<AtomicBool>,
    wake: Wake,
    /// Rows per claim: all of them are in flight at once.
    pub batch: i64,
    /// How long a claim keeps other relays off a row.
    pub lease: Duration,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This many events were confirmed (others may have been given back).
    Published(usize),
    /// Nothing was waiting.
    Idle,
}

/// Delay before an event no queue took is offered again: 2 s after the
/// first attempt, doubling to 60 s.
fn unroutable_retry(attempts: i32) -> Duration {
    let attempts = u32::try_from(attempts).unwrap_or(0);
    backoff_between(
        Duration::from_secs(1),
        Duration::from_secs(60),
        attempts + 1,
    )
}

impl Relay {
    pub fn new(
        pool: PgPool,
        amqp_url: String,
        topology: Topology,
        broker_up: Arc<AtomicBool>,
        wake: Wake,
    ) -> Self {
        Self {
            pool,
            amqp_url,
            topology,
            broker_up,
            wake,
            batch: 1000,
            lease: Duration::from_secs(30),
        }
    }

    /// One claim-publish-settle round. An error means the publisher is
    /// broken: the caller rebuilds it (the rows were given back first).
    pub async fn run_once(&self, publisher: &Publisher) -> anyhow::Result<Outcome> {
        let Some(claim) = outbox::claim(&self.pool, self.batch, self.lease).await? else {
            return Ok(Outcome::Idle);
        };
        let deliveries = publisher.publish(&claim.rows).await;
        self.settle(&claim, deliveries).await
    }

    /// Publishes `claim` and settles it; when it is a full batch (more are
    /// likely waiting), claims the next one while the broker confirms, so
    /// that the claim's statement is not time the connection sits idle.
    /// Measured per batch of 1,000 (task-bench --events, 2026-12-04): the
    /// claim 4-20 ms, the publish and its confirms 35-99 ms, the delete
    /// 1-2 ms. The next claim comes back with the outcome; the caller gives
    /// it back if it cannot publish it.
    async fn round(
        &self,
        publisher: &Publisher,
        claim: Claim,
    ) -> (anyhow::Result<Outcome>, Option<Claim>) {
        let full = claim.rows.len() >= usize::try_from(self.batch).unwrap_or(usize::MAX);
        let (deliveries, next) = if full {
            let (deliveries, next) = tokio::join!(
                publisher.publish(&claim.rows),
                outbox::claim(&self.pool, self.batch, self.lease)
            );
            // A failed claim took nothing (its transaction did not
            // commit) or, if only its commit's answer was lost, rows that
            // the lease frees again: the next round claims afresh.
            let next = next.unwrap_or_else(|e| {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "outbox relay could not claim ahead"
                );
                None
            });
            (deliveries, next)
        } else {
            (publisher.publish(&claim.rows).await, None)
        };
        (self.settle(&claim, deliveries).await, next)
    }

    /// Gives a claimed batch back unpublished: its rows are free at once.
    async fn give_back(&self, claim: Claim) {
        if let Err(e) = outbox::finish(&self.pool, claim.id, &[]).await {
            // The lease frees them anyway when it ends.
            tracing::warn!(
                error = format!("{e:#}"),
                "outbox relay could not give a claim back"
            );
        }
    }

    /// What the broker said of each row of `claim`: the confirmed rows
    /// leave the outbox, refused ones wait for a retry, lost ones are free
    /// again at once (and the publisher is reported broken).
    async fn settle(&self, claim: &Claim, deliveries: Vec<Delivery>) -> anyhow::Result<Outcome> {
        let rows = &claim.rows;
        let now = Utc::now();
        let mut confirmed = Vec::new();
        let mut refused: HashMap<(Duration, &str), Vec<i64>> = HashMap::new();
        let mut lost = Vec::new();
        let mut lost_reason = None;
        for (row, delivery) in rows.iter().zip(deliveries) {
            match delivery {
                Delivery::Confirmed => {
                    confirmed.push(row.id);
                    metrics::counter!("events_published_total", "routing_key" => row.routing_key.clone())
                        .increment(1);
                    if let Some(due) = row.due_time {
                        let lag = (now - due).to_std().unwrap_or_default();
                        metrics::histogram!("reminder_publish_lag_seconds")
                            .record(lag.as_secs_f64());
                    }
                }
                Delivery::Returned | Delivery::Nacked => {
                    let (reason, why) = if matches!(delivery, Delivery::Returned) {
                        (
                            "returned",
                            "unroutable: no queue is bound for this routing key",
                        )
                    } else {
                        ("nacked", "nacked by the broker")
                    };
                    let attempts = row.attempts + 1;
                    tracing::warn!(event_id = %row.event_id, routing_key = %row.routing_key, attempts, why, "event kept in the outbox");
                    metrics::counter!("events_publish_failures_total", "reason" => reason)
                        .increment(1);
                    refused
                        .entry((unroutable_retry(attempts), why))
                        .or_default()
                        .push(row.id);
                }
                Delivery::Lost(reason) => {
                    lost.push(row.id);
                    lost_reason.get_or_insert(reason);
                }
            }
        }
        // Retry times first: once the claim ends, the rows are free.
        for ((retry_in, why), ids) in refused {
            outbox::retry_later(&self.pool, &ids, retry_in, why).await?;
        }
        if let Some(reason) = &lost_reason {
            // Offer them again at once: the next publisher may well manage.
            metrics::counter!("events_publish_failures_total", "reason" => "connection")
                .increment(lost.len() as u64);
            outbox::retry_later(&self.pool, &lost, Duration::ZERO, reason).await?;
        }
        outbox::finish(&self.pool, claim.id, &confirmed).await?;
        if let Some(reason) = lost_reason {
            anyhow::bail!("publishing failed: {reason}");
        }
        Ok(Outcome::Published(confirmed.len()))
    }

    /// Relays until `shutdown`; the batch in flight is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut waiter = self.wake.outbox_waiter(&self.pool).await;
        let mut publisher: Option<Publisher> = None;
        // A batch claimed ahead by the last round (see `round`).
        let mut ahead: Option<Claim> = None;
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            let Some(current) = publisher.as_ref() else {
                match Publisher::connect_declaring(&self.amqp_url, &self.topology).await {
                    Ok(connected) => {
                        if failures > 0 {
                            tracing::info!("outbox relay reconnected to RabbitMQ");
                        }
                        publisher = Some(connected);
                        failures = 0;
                        self.set_broker_up(true);
                    }
                    Err(e) => {
                        failures += 1;
                        self.set_broker_up(false);
                        tracing::warn!(
                            error = format!("{e:#}"),
                            failures,
                            "outbox relay cannot reach RabbitMQ"
                        );
                        sleep_or_cancel(backoff(failures), &shutdown).await;
                    }
                }
                continue;
            };
            waiter.mark_seen();
            let result = if current.is_connected() {
                let claim = match ahead.take() {
                    Some(claim) => Ok(Some(claim)),
                    None => outbox::claim(&self.pool, self.batch, self.lease).await,
                };
                match claim {
                    Ok(Some(claim)) => {
                        let (result, next) = self.round(current, claim).await;
                        ahead = next;
                        result
                    }
                    Ok(None) => Ok(Outcome::Idle),
                    Err(e) => Err(e),
                }
            } else {
                Err(anyhow::anyhow!("the connection to RabbitMQ was closed"))
            };
            match result {
                // A thin batch means events trickle in: gather a few ms more
                // before the next claim rather than paying two statements
                // for every handful of rows.
                Ok(Outcome::Published(n)) if (n as i64) < self.batch / 10 => {
                    sleep_or_cancel(GATHER, &shutdown).await;
                }
                Ok(Outcome::Published(_)) => {}
                Ok(Outcome::Idle) => waiter.wait(FALLBACK_POLL, &shutdown).await,
                Err(e) => {
                    if let Some(claim) = ahead.take() {
                        self.give_back(claim).await;
                    }
                    failures += 1;
                    self.set_broker_up(false);
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "outbox relay lost its publisher; reconnecting"
                    );
                    if let Some(broken) = publisher.take() {
                        broken.close().await;
                    }
                    sleep_or_cancel(backoff(failures), &shutdown).await;
                }
            }
        }
        if let Some(claim) = ahead.take() {
            self.give_back(claim).await;
        }
        if let Some(publisher) = publisher {
            publisher.close().await;
        }
    }
}

impl Relay {
    fn set_broker_up(&self, up: bool) {
        self.broker_up.store(up, Ordering::SeqCst);
        metrics::gauge!("amqp_connected").set(if up { 1.0 } else { 0.0 });
    }
}

async fn sleep_or_cancel(duration: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(duration) => {}
    }
}
