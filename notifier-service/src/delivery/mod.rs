//! The delivery engine. The `notifications` table is the source of truth:
//! quiet hours, pacing, retries and restarts are all rows with a
//! `scheduled_time`, never AMQP messages held unacked. Each round claims due
//! rows with a lease, groups them by recipient (several make one digest),
//! reserves each recipient's 6-second slot, sends under the global rate, and
//! records every outcome in one statement.

pub mod compose;
mod limiter;
pub mod retry;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use limiter::RateLimiter;

use crate::domain::{Channel, Contact, Status};
use crate::providers::{ErrorClass, Message, Provider, SendError};
use crate::store::contacts::{self, ContactRow};
use crate::store::notifications::{self, Claimed, NotificationRow, Outcome};

/// No recipient gets more than one message per this (§5).
pub const RECIPIENT_GAP: Duration = Duration::from_secs(6);
/// Task states that get no reminder.
const CLOSED: [&str; 4] = [
    "TASK_STATE_COMPLETED",
    "TASK_STATE_CANCELLED",
    "TASK_STATE_ARCHIVED",
    "DELETED",
];

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub lease: Duration,
    pub retry_base: Duration,
    pub max_attempts: u32,
    pub max_mps: u32,
    /// While credentials are refused: how often one notification probes them.
    pub credential_probe: Duration,
}

/// Whether the provider refused our credentials; `/readyz` fails while so.
#[derive(Debug, Default)]
pub struct CredentialState {
    refused: AtomicBool,
}

impl CredentialState {
    pub fn refused(&self) -> bool {
        self.refused.load(Ordering::SeqCst)
    }

    fn set(&self, refused: bool) {
        let was = self.refused.swap(refused, Ordering::SeqCst);
        if was != refused {
            metrics::gauge!("provider_credentials_refused").set(if refused { 1.0 } else { 0.0 });
            if refused {
                tracing::error!(
                    "the provider refuses our credentials: sending stopped until they work"
                );
            } else {
                tracing::info!("the provider accepts our credentials again: sending resumed");
            }
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Claimed this many notifications.
    Done(usize),
    Idle,
}

#[derive(Clone)]
pub struct Engine {
    pool: PgPool,
    whatsapp: Arc<dyn Provider>,
    sms: Option<Arc<dyn Provider>>,
    limiter: Arc<RateLimiter>,
    config: EngineConfig,
    credentials: Arc<CredentialState>,
    last_probe: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
    wake: Arc<Notify>,
}

/// A group of one recipient's notifications, sent as one message.
struct Batch {
    contact: Contact,
    pair_streak: u32,
    rows: Vec<NotificationRow>,
    channel: Channel,
}

impl Engine {
    pub fn new(
        pool: PgPool,
        whatsapp: Arc<dyn Provider>,
        sms: Option<Arc<dyn Provider>>,
        limiter: Arc<RateLimiter>,
        config: EngineConfig,
        credentials: Arc<CredentialState>,
    ) -> Self {
        Self {
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
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Half a second of sends per round: a round in flight at shutdown ends
    /// well within the deadline.
    fn batch_size(&self) -> i64 {
        i64::from(self.config.max_mps / 2).clamp(8, 256)
    }

    /// Runs rounds until `shutdown`; a round in flight is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let wait = match self.run_once().await {
                Ok(Round::Done(_)) => continue,
                Ok(Round::Idle) => self.idle_wait().await,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "delivery round failed");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            if shutdown.is_cancelled() {
                return;
            }
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

    /// One round: claim, decide, send, record.
    pub async fn run_once(&self) -> anyhow::Result<Round> {
        let limit = if self.credentials.refused() {
            // One probe per interval while the provider refuses us.
            let mut last = self.last_probe.lock().expect("never poisoned");
            if last.is_some_and(|at| at.elapsed() < self.config.credential_probe) {
                return Ok(Round::Idle);
            }
            *last = Some(tokio::time::Instant::now());
            1
        } else {
            self.batch_size()
        };
        let claimed = notifications::claim(&self.pool, limit, self.config.lease).await?;
        if claimed.is_empty() {
            return Ok(Round::Idle);
        }
        let count = claimed.len();
        let now = Utc::now();
        let mut outcomes = Vec::with_capacity(count);
        let batches = self.prepare(claimed, now, &mut outcomes).await?;
        let sent: Vec<Vec<Outcome>> = futures::stream::iter(batches)
            .map(|batch| self.deliver(batch))
            .buffer_unordered(64)
            .collect()
            .await;
        outcomes.extend(sent.into_iter().flatten());
        for outcome in &outcomes {
            metrics::counter!("notifications_total", "status" => outcome.status.as_db())
                .increment(1);
        }
        notifications::record(&self.pool, &outcomes).await?;
        Ok(Round::Done(count))
    }

    /// Sorts claimed rows into skips, deferrals and per-recipient batches
    /// whose send slot is reserved.
    async fn prepare(
        &self,
        claimed: Vec<Claimed>,
        now: DateTime<Utc>,
        outcomes: &mut Vec<Outcome>,
    ) -> anyhow::Result<Vec<Batch>> {
        let users: Vec<String> = claimed
            .iter()
            .map(|c| c.row.user_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let contacts: HashMap<String, ContactRow> = contacts::for_users(&self.pool, &users)
            .await?
            .into_iter()
            .map(|row| (row.user_id().to_owned(), row))
            .collect();
        // BTreeMap: recipients in a stable order, oldest reminders first.
        let mut groups: BTreeMap<(String, &'static str), Vec<NotificationRow>> = BTreeMap::new();
        for Claimed { row, task_state } in claimed {
            if let Some(state) = task_state.as_deref().filter(|s| CLOSED.contains(s)) {
                let why = if state == "DELETED" {
                    "task was deleted".to_owned()
                } else {
                    format!("task is {state}")
                };
                outcomes.push(settle(&row, Status::Skipped, Some(why), now));
                continue;
            }
            let channel = Channel::from_db(&row.channel);
            groups
                .entry((row.user_id.clone(), channel.as_db()))
                .or_default()
                .push(row);
        }
        let mut ready = Vec::new();
        for ((user, channel), rows) in groups {
            let Some(row) = contacts.get(&user) else {
                outcomes.extend(rows.iter().map(|r| {
                    settle(
                        r,
                        Status::Skipped,
                        Some("no contact for this user".into()),
                        now,
                    )
                }));
                continue;
            };
            let contact = row.clone().into_contact();
            if !contact.spec.whatsapp_opt_in {
                outcomes.extend(rows.iter().map(|r| {
                    settle(
                        r,
                        Status::Skipped,
                        Some("contact has not opted in".into()),
                        now,
                    )
                }));
                continue;
            }
            if let Some(release) = contact
                .spec
                .quiet_hours
                .and_then(|quiet| quiet.release_time(contact.spec.zone.0, now))
            {
                outcomes.extend(
                    rows.iter()
                        .map(|r| settle(r, Status::Deferred, None, release)),
                );
                continue;
            }
            ready.push(Batch {
                pair_streak: u32::try_from(row.pair_limited).unwrap_or(0),
                contact,
                rows,
                channel: Channel::from_db(channel),
            });
        }
        let wanted: Vec<String> = ready
            .iter()
            .map(|b| b.contact.spec.user.as_str().to_owned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let reserved: HashSet<String> =
            contacts::reserve_send_slots(&self.pool, &wanted, RECIPIENT_GAP)
                .await?
                .into_iter()
                .collect();
        let mut batches = Vec::new();
        for batch in ready {
            let user = batch.contact.spec.user.as_str();
            if reserved.contains(user) {
                batches.push(batch);
            } else {
                // Paced: this recipient had a message less than 6 s ago.
                let next = contacts
                    .get(user)
                    .map_or(now, |c| c.next_send_time)
                    .max(now + chrono::Duration::milliseconds(500));
                outcomes.extend(
                    batch
                        .rows
                        .iter()
                        .map(|r| settle(r, Status::Queued, None, next)),
                );
            }
        }
        // Two batches of one recipient (WhatsApp and SMS fallback) share a
        // slot: send only the first now.
        let mut seen = HashSet::new();
        let (now_batches, later): (Vec<Batch>, Vec<Batch>) = batches
            .into_iter()
            .partition(|b| seen.insert(b.contact.spec.user.as_str().to_owned()));
        for batch in later {
            let next = now + chrono::Duration::from_std(RECIPIENT_GAP).unwrap_or_default();
            outcomes.extend(
                batch
                    .rows
                    .iter()
                    .map(|r| settle(r, Status::Queued, None, next)),
            );
        }
        Ok(now_batches)
    }

    /// Sends one batch as one message and says what became of each row.
    async fn deliver(&self, batch: Batch) -> Vec<Outcome> {
        let (provider, mut message) = match batch.channel {
            Channel::WhatsApp => {
                let interactive = batch.contact.window_open(Utc::now());
                (
                    self.whatsapp.clone(),
                    compose::whatsapp(&batch.rows, &batch.contact, interactive),
                )
            }
            Channel::Sms => match &self.sms {
                Some(sms) => (sms.clone(), compose::sms(&batch.rows, &batch.contact)),
                None => {
                    return give_up_all(&batch, "no SMS fallback is configured".into(), 0);
                }
            },
        };
        let phone = batch.contact.spec.phone_number.clone();
        let mut requests = 0;
        loop {
            self.limiter.acquire().await;
            requests += 1;
            let started = Utc::now();
            for row in &batch.rows {
                let lag = (started - row.reminder_time).to_std().unwrap_or_default();
                metrics::histogram!("notification_send_lag_seconds").record(lag.as_secs_f64());
            }
            let result = provider.send(&phone, &message).await;
            match result {
                Ok(message_id) => {
                    self.credentials.set(false);
                    metrics::counter!("messages_sent_total", "provider" => provider.name(), "kind" => message.kind())
                        .increment(1);
                    if batch.pair_streak > 0 {
                        let users = [batch.contact.spec.user.as_str().to_owned()];
                        if let Err(e) = contacts::clear_pair_limits(&self.pool, &users).await {
                            tracing::warn!(error = %e, "cannot clear a pair-rate streak");
                        }
                    }
                    let lead = batch.rows[0].id;
                    return batch
                        .rows
                        .iter()
                        .map(|row| Outcome {
                            provider_message_id: Some(message_id.clone()),
                            batch_id: Some(lead),
                            requests,
                            last_error: None,
                            ..settle(row, Status::Sent, None, Utc::now())
                        })
                        .collect();
                }
                Err(error) => {
                    let code = error
                        .code
                        .map_or_else(|| "none".to_owned(), |c| c.to_string());
                    metrics::counter!("provider_errors_total", "provider" => provider.name(), "code" => code)
                        .increment(1);
                    tracing::warn!(
                        provider = provider.name(),
                        to = %phone.masked(),
                        error = %error,
                        "send failed"
                    );
                    if error.class == ErrorClass::OutsideWindow
                        && !matches!(message, Message::Template { .. })
                        && batch.channel == Channel::WhatsApp
                    {
                        // 131047: the window closed; the template goes at once.
                        message = compose::whatsapp(&batch.rows, &batch.contact, false);
                        continue;
                    }
                    return self.after_failure(&batch, &error, requests).await;
                }
            }
        }
    }

    /// The rows' fate after a failed request, by the error's class.
    async fn after_failure(&self, batch: &Batch, error: &SendError, requests: i32) -> Vec<Outcome> {
        let now = Utc::now();
        let described = error.describe();
        match error.class {
            ErrorClass::Retryable { retry_after } => batch
                .rows
                .iter()
                .map(|row| {
                    let failures = row.failures + 1;
                    if failures >= i32::try_from(self.config.max_attempts).unwrap_or(i32::MAX) {
                        return self.give_up(batch, row, &described, requests);
                    }
                    let delay = retry::backoff(
                        self.config.retry_base,
                        u32::try_from(failures).unwrap_or(u32::MAX),
                        retry_after,
                    );
                    Outcome {
                        failures,
                        requests,
                        ..settle(row, Status::Queued, Some(described.clone()), now + delay)
                    }
                })
                .collect(),
            ErrorClass::PairRateLimited => match retry::pair_delay(batch.pair_streak) {
                Some(delay) => {
                    let until = now + chrono::Duration::from_std(delay).unwrap_or_default();
                    let user = batch.contact.spec.user.as_str();
                    if let Err(e) = contacts::pair_limited(&self.pool, user, until).await {
                        tracing::warn!(error = %e, "cannot record a pair rate limit");
                    }
                    batch
                        .rows
                        .iter()
                        .map(|row| Outcome {
                            requests,
                            ..settle(row, Status::Queued, Some(described.clone()), until)
                        })
                        .collect()
                }
                None => give_up_rows(self, batch, &described, requests),
            },
            ErrorClass::OptedOut => {
                let user = batch.contact.spec.user.as_str();
                if let Err(e) = contacts::set_opt_in_by_user(&self.pool, user, false).await {
                    tracing::warn!(error = %e, "cannot opt a contact out");
                }
                batch
                    .rows
                    .iter()
                    .map(|row| Outcome {
                        requests,
                        ..settle(
                            row,
                            Status::Failed,
                            Some(format!("{described}; contact opted out")),
                            now,
                        )
                    })
                    .collect()
            }
            ErrorClass::Credentials => {
                self.credentials.set(true);
                let retry = now
                    + chrono::Duration::from_std(self.config.credential_probe).unwrap_or_default();
                batch
                    .rows
                    .iter()
                    .map(|row| Outcome {
                        requests,
                        ..settle(row, Status::Queued, Some(described.clone()), retry)
                    })
                    .collect()
            }
            ErrorClass::OutsideWindow | ErrorClass::Permanent => {
                give_up_rows(self, batch, &described, requests)
            }
        }
    }

    /// FAILED, or on to SMS where that fallback is configured.
    fn give_up(&self, batch: &Batch, row: &NotificationRow, why: &str, requests: i32) -> Outcome {
        let now = Utc::now();
        if batch.channel == Channel::WhatsApp && self.sms.is_some() {
            return Outcome {
                channel: Channel::Sms,
                failures: 0,
                requests,
                ..settle(
                    row,
                    Status::Queued,
                    Some(format!("whatsapp {why}; falling back to SMS")),
                    now,
                )
            };
        }
        let prefix = if batch.channel == Channel::Sms {
            "sms "
        } else {
            ""
        };
        Outcome {
            requests,
            ..settle(row, Status::Failed, Some(format!("{prefix}{why}")), now)
        }
    }
}

fn give_up_rows(engine: &Engine, batch: &Batch, why: &str, requests: i32) -> Vec<Outcome> {
    batch
        .rows
        .iter()
        .map(|row| engine.give_up(batch, row, why, requests))
        .collect()
}

fn give_up_all(batch: &Batch, why: String, requests: i32) -> Vec<Outcome> {
    batch
        .rows
        .iter()
        .map(|row| Outcome {
            requests,
            ..settle(row, Status::Failed, Some(why.clone()), Utc::now())
        })
        .collect()
}

/// An outcome with no request made: the row keeps its channel and failures.
fn settle(
    row: &NotificationRow,
    status: Status,
    last_error: Option<String>,
    scheduled_time: DateTime<Utc>,
) -> Outcome {
    Outcome {
        id: row.id,
        status,
        channel: Channel::from_db(&row.channel),
        requests: 0,
        failures: row.failures,
        provider_message_id: None,
        batch_id: None,
        last_error,
        scheduled_time,
    }
}
