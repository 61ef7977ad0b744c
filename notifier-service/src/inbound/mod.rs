//! Acting on what webhooks recorded: status reports move notifications
//! forward, Done and Snooze call task-service (`press`), STOP and START opt
//! the contact out and in with a short confirmation, and what a person
//! writes is answered (`talk`, `today`). Each report is claimed with a lease and
//! finished once acted on, so a crash or an unreachable task-service delays
//! an action but never loses it.

mod press;
mod talk;
mod today;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::delivery::{RateLimiter, RECIPIENT_GAP};
use crate::domain::Status;
use crate::domain::{PhoneNumber, ReportKind};
use crate::providers::{ErrorClass, Message, Provider};
use crate::store::inbound::{self, Pending};
use crate::store::notifications::{self, StatusReport};
use crate::store::{contacts, numbers};
use crate::task_client::TaskClient;

const BATCH: i64 = 100;
const LEASE: Duration = Duration::from_secs(30);
/// A status report for a message we have not recorded as sent yet (the
/// provider can be faster than our own bookkeeping) waits this many tries.
const UNKNOWN_MESSAGE_TRIES: i32 = 60;
/// A Done or Snooze that task-service cannot take now is retried this often.
const ACTION_TRIES: i32 = 20;
const SNOOZE: Duration = Duration::from_secs(3600);
#[derive(Clone)]
pub(crate) struct InboundWorker {
    pub pool: PgPool,
    pub tasks: TaskClient,
    pub replies: Arc<dyn Provider>,
    pub limiter: Arc<RateLimiter>,
    pub wake: Arc<Notify>,
}

impl InboundWorker {
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let wake = self.wake.clone();
        crate::rounds::run(
            "inbound",
            Duration::from_millis(500),
            &wake,
            &shutdown,
            || self.run_once(),
        )
        .await;
    }

    /// Acts on the reports that are due; how many it took.
    pub(crate) async fn run_once(&self) -> anyhow::Result<usize> {
        let claimed = inbound::claim(&self.pool, BATCH, LEASE).await?;
        // Statuses, most of what comes in, together: a few statements for
        // the whole batch instead of five round trips each.
        let (statuses, others): (Vec<&Pending>, Vec<&Pending>) =
            claimed.iter().partition(|r| r.kind == ReportKind::Status);
        let statuses = self.apply_statuses(&statuses).await;
        // One report that fails (a lost connection mid-way, the pool's
        // acquire timeout under load) is tried again after a second per
        // try so far, not after its 30 s lease, and the rest of the batch
        // is still acted on now.
        let mut failed = None;
        for report in others {
            if let Err(e) = self.act(report).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    kind = report.kind.as_db(),
                    "cannot act on a report; it is tried again"
                );
                // If this fails too, the lease brings the report back.
                let _ = inbound::retry_at(
                    &self.pool,
                    &report.key,
                    from_now(try_again_after(report)),
                    "acting on it failed",
                )
                .await;
                failed.get_or_insert(e);
            }
        }
        statuses?;
        match failed {
            Some(e) => Err(e),
            None => Ok(claimed.len()),
        }
    }

    async fn act(&self, report: &Pending) -> anyhow::Result<()> {
        if report.attempts == 1 && report.kind != ReportKind::Status {
            self.mark_read(report).await;
        }
        match report.kind {
            ReportKind::Status => self.apply_statuses(&[report]).await,
            ReportKind::Done | ReportKind::Snooze => self.press(report).await,
            ReportKind::Stop | ReportKind::Start => self.opt(report).await,
            ReportKind::Text => self.text(report).await,
            ReportKind::Undo => self.undo(report).await,
            ReportKind::Pick => self.pick(report).await,
        }
    }

    /// Every inbound message is marked read, once, as a person would read
    /// it; best effort (a failure is logged: the message is still acted on).
    async fn mark_read(&self, report: &Pending) {
        let Some(message_id) = report.key.strip_prefix("meta:message:") else {
            return;
        };
        let _counted = self.limiter.acquire().await;
        if let Err(e) = self.replies.mark_read(message_id).await {
            tracing::warn!(error = %e, "cannot mark an inbound message read");
        }
    }

    /// Applies status reports, forward only; a report for a message id no
    /// notification has yet is tried again a second later (the send's
    /// outcome may not be recorded yet), up to `UNKNOWN_MESSAGE_TRIES`.
    async fn apply_statuses(&self, reports: &[&Pending]) -> anyhow::Result<()> {
        let mut ignored = Vec::new();
        let mut followed = Vec::new();
        for report in reports {
            let status = report.detail.as_deref().and_then(Status::from_report);
            match (report.reference.as_deref(), status) {
                (Some(message_id), Some(status)) => {
                    metrics::counter!("status_reports_total", "status" => status.as_db())
                        .increment(1);
                    followed.push((
                        *report,
                        StatusReport {
                            provider_message_id: message_id,
                            status,
                            error: report.error.as_deref(),
                        },
                    ));
                }
                _ => ignored.push(report.key.as_str()),
            }
        }
        inbound::finish_many(&self.pool, &ignored, Some("not a status we follow")).await?;
        let applied: Vec<StatusReport<'_>> = followed.iter().map(|(_, s)| *s).collect();
        let known = notifications::apply_reports(&self.pool, &applied).await?;
        let (mut done, mut again, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
        for (report, status) in &followed {
            let key = report.key.as_str();
            if known.contains(status.provider_message_id) {
                done.push(key);
            } else if report.attempts < UNKNOWN_MESSAGE_TRIES {
                again.push(key);
            } else {
                unknown.push(key);
            }
        }
        inbound::finish_many(&self.pool, &done, None).await?;
        let retry = Utc::now() + chrono::Duration::seconds(1);
        inbound::retry_many(
            &self.pool,
            &again,
            retry,
            "no notification has this message id yet",
        )
        .await?;
        inbound::finish_many(
            &self.pool,
            &unknown,
            Some("no notification has this message id"),
        )
        .await
    }

    /// STOP (or No) and START (or Yes): the change and the report marked
    /// applied in one transaction (so a retry never applies it again, nor
    /// skips it), then the confirmation once the recipient's 6-second slot
    /// is free (a reminder may just have gone).
    async fn opt(&self, report: &Pending) -> anyhow::Result<()> {
        let Some(from) = &report.from_number else {
            return inbound::finish(&self.pool, &report.key, Some("no sender")).await;
        };
        let start = report.kind == ReportKind::Start;
        let contacts = numbers::apply_opt(&self.pool, &report.key, from, start).await?;
        tracing::info!(from = %from.masked(), start, contacts, "the number said STOP or START");
        if contacts == 0 {
            return inbound::finish(&self.pool, &report.key, Some("no contact has this number"))
                .await;
        }
        if !self.slot(report, from).await? {
            return Ok(());
        }
        let body = if start {
            "Reminders are on. Send STOP to stop them."
        } else {
            "You will get no more reminders here. Send START to get them again."
        };
        // The user just wrote to us: the window is open for a text.
        self.answer(report, from, &Message::Text { body: body.into() }, None)
            .await
    }

    /// Whether the recipient's 6-second slot is ours now (a reminder may
    /// just have gone); if not, the report is tried again when it is free.
    async fn slot(&self, report: &Pending, to: &PhoneNumber) -> anyhow::Result<bool> {
        match contacts::reserve_slot_by_number(&self.pool, to, RECIPIENT_GAP).await? {
            None => Ok(true),
            Some(free) => {
                inbound::retry_at(
                    &self.pool,
                    &report.key,
                    free,
                    "the answer waits for the slot",
                )
                .await?;
                Ok(false)
            }
        }
    }

    /// Sends an answer under the global rate, then finishes the report
    /// with `note`. A refusal that passes (the recipient's pair rate: our
    /// slot counts from when a reminder was claimed, WhatsApp's from when it
    /// took it; a provider busy or unreachable) sends the answer again
    /// later, up to `ACTION_TRIES`. A retry never takes an action twice: a
    /// press, an Undo, a STOP or a stranger's answer is recorded as applied
    /// first, a task made comes back for its request id, and the rest only
    /// read. Any other failure is logged and the report finished: the
    /// person can write again, and nothing is lost.
    async fn answer(
        &self,
        report: &Pending,
        to: &PhoneNumber,
        message: &Message,
        note: Option<&str>,
    ) -> anyhow::Result<()> {
        let sent = {
            let _counted = self.limiter.acquire().await;
            self.replies.send(to, message).await
        };
        let Err(e) = sent else {
            return inbound::finish(&self.pool, &report.key, note).await;
        };
        let wait = match e.class {
            ErrorClass::PairRateLimited => Some(RECIPIENT_GAP),
            ErrorClass::Retryable { retry_after } => {
                Some(retry_after.unwrap_or_else(|| try_again_after(report)))
            }
            _ => None,
        };
        match wait {
            Some(wait) if report.attempts < ACTION_TRIES => {
                tracing::info!(error = %e, kind = message.kind(), "an answer is sent again later");
                let at = from_now(wait);
                inbound::retry_at(&self.pool, &report.key, at, "the answer was not taken yet").await
            }
            _ => {
                tracing::warn!(error = %e, kind = message.kind(), "cannot answer an inbound message");
                inbound::finish(&self.pool, &report.key, Some("the answer was refused")).await
            }
        }
    }
}

/// A report that can be tried again waits a second per try so far, at most
/// 30 s (its `attempts` counts claims, so it is at least 1).
pub(super) fn try_again_after(report: &Pending) -> Duration {
    Duration::from_secs(u64::from(report.attempts.clamp(1, 30).unsigned_abs()))
}

/// `wait` from now.
pub(super) fn from_now(wait: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default()
}
