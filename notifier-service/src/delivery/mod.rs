//! The delivery engine. The `notifications` table is the source of truth:
//! quiet hours, pacing, retries and restarts are all rows with a
//! `scheduled_time`, never AMQP messages held unacked. Each round claims due
//! rows with a lease, plans them (`plan`: skips, deferrals, one batch per
//! recipient), reserves each recipient's 6-second slot, sends under the
//! global rate (`send`), decides failures by `failure`'s policy, and records each
//! batch's outcome right after its send. Every record is fenced by the
//! round's claim: a round whose lease ran out (and whose rows another round
//! may have taken) records nothing and sends no more; no send starts unless
//! the lease outlasts it; a failed record is retried, never answered by
//! sending again.

pub(crate) mod compose;
mod credentials;
mod failure;
mod limiter;
mod outcomes;
mod plan;
pub(crate) mod retry;
mod send;
mod share;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use futures::StreamExt;
use sqlx::PgPool;
use todogenie_common::backoff::backoff;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub(crate) use credentials::CredentialState;
pub(crate) use limiter::RateLimiter;
pub(crate) use plan::RECIPIENT_GAP;
pub(crate) use share::Share;

use crate::domain::Contact;
use crate::providers::Provider;
use crate::store::contacts;
use crate::store::notifications::{self, Outcome};
use failure::Policy;
use outcomes::Recorder;
use plan::Batch;

/// The engine's settings.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    pub lease: Duration,
    /// The longest a provider request may take (`NOTIFIER_PROVIDER_TIMEOUT`).
    pub provider_timeout: Duration,
    pub retry_base: Duration,
    pub max_attempts: u32,
    pub max_mps: u32,
    /// While credentials are refused: how often one notification probes them.
    pub credential_probe: Duration,
}

/// Room left on the lease, beyond the longest send, for its outcome to be
/// recorded.
const RECORD_MARGIN: Duration = Duration::from_secs(1);

/// One round's hold on the rows it claimed.
struct Held {
    claim: Uuid,
    /// When the lease ends, by our clock (started before the claim was made).
    deadline: Instant,
    /// A record found rows no longer ours: another round has them.
    lost: AtomicBool,
}

impl Held {
    /// Whether a send that takes up to `longest` would end, and be
    /// recorded, while the rows are still ours.
    fn may_send(&self, longest: Duration) -> bool {
        !self.lost.load(Ordering::SeqCst) && Instant::now() < self.latest_start(longest)
    }

    /// The last moment a send that takes up to `longest` may start.
    fn latest_start(&self, longest: Duration) -> Instant {
        self.deadline
            .checked_sub(longest + RECORD_MARGIN)
            .unwrap_or_else(Instant::now)
    }
}

/// A round claimed and planned, its sends not yet begun.
struct Started {
    held: Held,
    batches: Vec<Batch>,
}

#[derive(Clone)]
pub(crate) struct Engine {
    pool: PgPool,
    recorder: Recorder,
    whatsapp: Arc<dyn Provider>,
    sms: Option<Arc<dyn Provider>>,
    limiter: Arc<RateLimiter>,
    config: EngineConfig,
    credentials: Arc<CredentialState>,
    last_probe: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
    wake: Arc<Notify>,
}

impl Engine {
    pub(crate) fn new(
        pool: PgPool,
        whatsapp: Arc<dyn Provider>,
        sms: Option<Arc<dyn Provider>>,
        limiter: Arc<RateLimiter>,
        config: EngineConfig,
        credentials: Arc<CredentialState>,
    ) -> Self {
        Self {
            recorder: Recorder::start(pool.clone()),
            pool,
            whatsapp,
            sms,
            limiter,
            config,
            credentials,
            last_probe: Arc::default(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Wakes the loop early (new notifications were queued).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Half a second of sends per round (at the whole account's rate, the
    /// most this replica's share can be): a round in flight at shutdown ends
    /// well within the deadline.
    fn batch_size(&self) -> i64 {
        i64::from(self.config.max_mps / 2).clamp(8, 256)
    }

    fn policy(&self) -> Policy {
        Policy {
            retry_base: self.config.retry_base,
            max_attempts: self.config.max_attempts,
            credential_probe: self.config.credential_probe,
            sms_fallback: self.sms.is_some(),
        }
    }

    /// Runs rounds until `shutdown`; rounds in flight are finished first.
    ///
    /// Rounds overlap: the next one is claimed once every batch of the
    /// current one is waiting for its slot or sent, while those waiting
    /// still keep the limiter busy. Without that, the loops' rounds ended
    /// together (their sends interleave in one limiter) and both claimed
    /// while no slot was taken: notifier-bench lost 2–3 % of the limit.
    /// At most two rounds per loop are in flight, the older one's sends
    /// all started.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let mut previous: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let wait = match self.begin_round().await {
                Ok(Some(round)) => {
                    let (started, all_started) = tokio::sync::oneshot::channel();
                    let engine = self.clone();
                    let sending = tokio::spawn(async move {
                        engine.send_round(round, Some(started)).await;
                    });
                    if let Some(older) = previous.replace(sending) {
                        let _ = older.await;
                    }
                    let _ = all_started.await;
                    if shutdown.is_cancelled() {
                        break;
                    }
                    continue;
                }
                Ok(None) => self.idle_wait().await,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "delivery round failed");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        if let Some(last) = previous {
            let _ = last.await;
        }
    }

    /// Until the next pending notification is due, at most a second (other
    /// replicas queue work too).
    async fn idle_wait(&self) -> Duration {
        let cap = Duration::from_secs(1);
        match notifications::next_due(&self.pool).await {
            Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or_default().min(cap),
            _ => cap,
        }
    }

    /// A round up to its sends: claims, plans, reserves each recipient's
    /// slot and records what needs no send. `None`: nothing was due.
    async fn begin_round(&self) -> anyhow::Result<Option<Started>> {
        let limit = if self.credentials.refused() {
            // One probe per interval while the provider refuses us.
            let mut last = self.last_probe.lock().expect("never poisoned");
            if last.is_some_and(|at| at.elapsed() < self.config.credential_probe) {
                return Ok(None);
            }
            *last = Some(tokio::time::Instant::now());
            1
        } else {
            self.batch_size()
        };
        let held = Held {
            claim: Uuid::now_v7(),
            deadline: Instant::now() + self.config.lease,
            lost: AtomicBool::new(false),
        };
        let claimed =
            notifications::claim(&self.pool, limit, self.config.lease, held.claim).await?;
        if claimed.is_empty() {
            return Ok(None);
        }
        let now = Utc::now();
        let users: Vec<String> = claimed
            .iter()
            .map(|c| c.notification.user_id.as_str().to_owned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let contacts: HashMap<String, Contact> = contacts::for_users(&self.pool, &users)
            .await?
            .into_iter()
            .map(|c| (c.spec.user.as_str().to_owned(), c))
            .collect();
        let plan = plan::plan(claimed, &contacts, now);
        let reserved: HashSet<String> =
            contacts::reserve_send_slots(&self.pool, &plan.recipients(), RECIPIENT_GAP)
                .await?
                .into_iter()
                .collect();
        let mut decided = plan.outcomes;
        let (batches, waiting) = plan::pace(plan.ready, &reserved, now);
        decided.extend(waiting);
        self.record(&held, decided).await;
        Ok(Some(Started { held, batches }))
    }

    /// Sends a round's batches, 128 at a time (a round is at most 256),
    /// recording each outcome; `all_started` is told once the last batch
    /// has begun (waiting for its slot at most).
    ///
    /// 128, so that the next round is claimed and planned while 128 slots
    /// (130 ms at 1,000/s) are still queued. With 64, notifier-bench saw the
    /// limiter's slots pass unused (`send_slots_unused_seconds`) for
    /// 0.19–0.26 s in 8–14 gaps of a 21 s run; with 128, none in three
    /// runs alternating with it (961–968 against 954–961 messages/s). A
    /// whole round at once drew 57–100 × 130429 against 2–13 in another
    /// alternation (likely: after a stall, every waiter whose slot passed
    /// sends at once, and a deeper queue holds more of them); 128 drew
    /// 20–43 against 64's 14–32.
    async fn send_round(
        &self,
        round: Started,
        all_started: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        let Started { held, batches } = round;
        let mut batches = batches.into_iter();
        let mut all_started = all_started;
        let batches = std::iter::from_fn(move || {
            let next = batches.next();
            if next.is_none() {
                if let Some(tell) = all_started.take() {
                    let _ = tell.send(());
                }
            }
            next
        });
        futures::stream::iter(batches)
            .for_each_concurrent(128, |batch| async {
                let outcomes = self.deliver(&held, batch).await;
                self.record(&held, outcomes).await;
            })
            .await;
    }

    /// Records outcomes for the rows this round still holds. A failed write
    /// is retried until it lands (the message went out: sending again is
    /// not an answer); rows found taken mark the round lost.
    async fn record(&self, held: &Held, outcomes: Vec<Outcome>) {
        if outcomes.is_empty() {
            return;
        }
        for outcome in &outcomes {
            metrics::counter!("notifications_total", "status" => outcome.status.as_db())
                .increment(1);
        }
        let mut failures = 0;
        loop {
            match self.recorder.record(held.claim, outcomes.clone()).await {
                Ok(recorded) => {
                    if recorded < outcomes.len() as u64 {
                        held.lost.store(true, Ordering::SeqCst);
                        tracing::warn!(
                            outcomes = outcomes.len(),
                            recorded,
                            "a delivery round outlasted its lease: it sends no more"
                        );
                    }
                    return;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(
                        error = format!("{e:#}"),
                        failures,
                        "cannot record a send's outcome; retrying"
                    );
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    }
}
