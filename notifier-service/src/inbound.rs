//! Acting on what webhooks recorded: status reports move notifications
//! forward, Done and Snooze call task-service, STOP and START opt the
//! contact out and in with a short confirmation. Each report is claimed with
//! a lease and finished once acted on, so a crash or an unreachable
//! task-service delays an action but never loses it.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::delivery::{RateLimiter, RECIPIENT_GAP};
use crate::domain::Status;
use crate::domain::{ReportKind, WhatsAppStatus};
use crate::providers::{Message, Provider};
use crate::store::inbound::{self, Pending};
use crate::store::{contacts, notifications, numbers};
use crate::task_client::{CallResult, TaskClient};

const BATCH: i64 = 100;
const LEASE: Duration = Duration::from_secs(30);
/// A status report for a message we have not recorded as sent yet (the
/// provider can be faster than our own bookkeeping) waits this many tries.
const UNKNOWN_MESSAGE_TRIES: i32 = 60;
/// A Done or Snooze that task-service cannot take now is retried this often.
const ACTION_TRIES: i32 = 20;
const SNOOZE: Duration = Duration::from_secs(3600);
/// What `help` answers: what can be sent here.
const HELP: &str = "TodoGenie: press Done on a reminder to complete the task, or Snooze to \
hear of it again in an hour. Send STOP to stop reminders here, START to get them again, and \
HELP for this message.";

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
        for report in &claimed {
            self.act(report).await?;
        }
        Ok(claimed.len())
    }

    async fn act(&self, report: &Pending) -> anyhow::Result<()> {
        if report.attempts == 1 && report.kind != ReportKind::Status {
            self.mark_read(report).await;
        }
        match report.kind {
            ReportKind::Status => self.apply_status(report).await,
            ReportKind::Done | ReportKind::Snooze => self.press(report).await,
            ReportKind::Stop | ReportKind::Start => self.opt(report).await,
            ReportKind::Text => self.text(report).await,
        }
    }

    /// Every inbound message is marked read, once, as a person would read
    /// it; best effort (a failure is logged: the message is still acted on).
    async fn mark_read(&self, report: &Pending) {
        let Some(message_id) = report.key.strip_prefix("meta:message:") else {
            return;
        };
        self.limiter.acquire().await;
        if let Err(e) = self.replies.mark_read(message_id).await {
            tracing::warn!(error = %e, "cannot mark an inbound message read");
        }
    }

    async fn apply_status(&self, report: &Pending) -> anyhow::Result<()> {
        let (Some(message_id), Some(status)) = (
            report.reference.as_deref(),
            report.detail.as_deref().and_then(Status::from_report),
        ) else {
            return inbound::finish(&self.pool, &report.key, Some("not a status we follow")).await;
        };
        metrics::counter!("status_reports_total", "status" => status.as_db()).increment(1);
        let applied =
            notifications::apply_report(&self.pool, message_id, status, report.error.as_deref())
                .await?;
        match applied {
            Some(_) => inbound::finish(&self.pool, &report.key, None).await?,
            None if report.attempts < UNKNOWN_MESSAGE_TRIES => {
                let retry = Utc::now() + chrono::Duration::seconds(1);
                inbound::retry_at(
                    &self.pool,
                    &report.key,
                    retry,
                    "no notification has this message id yet",
                )
                .await?;
            }
            None => {
                inbound::finish(
                    &self.pool,
                    &report.key,
                    Some("no notification has this message id"),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Done or Snooze on a reminder: every task of that message, if the
    /// button was pressed by the number the message went to.
    async fn press(&self, report: &Pending) -> anyhow::Result<()> {
        if !report.applied {
            let acted = self.press_actions(report).await?;
            if !acted {
                return Ok(());
            }
            inbound::mark_applied(&self.pool, &report.key).await?;
        }
        self.acknowledge(report).await
    }

    /// A Done or Snooze press answered like a person would: a reaction on
    /// it (✅, ⏰), once the recipient's 6-second slot is free; best effort.
    async fn acknowledge(&self, report: &Pending) -> anyhow::Result<()> {
        let Some(from) = &report.from_number else {
            return inbound::finish(&self.pool, &report.key, None).await;
        };
        if let Some(free) =
            contacts::reserve_slot_by_number(&self.pool, from, RECIPIENT_GAP).await?
        {
            return inbound::retry_at(
                &self.pool,
                &report.key,
                free,
                "the reaction waits for the slot",
            )
            .await;
        }
        let emoji = if report.kind == ReportKind::Done {
            "✅"
        } else {
            "⏰"
        };
        let message_id = report
            .key
            .strip_prefix("meta:message:")
            .or_else(|| report.key.strip_prefix("twilio:message:"))
            .unwrap_or_default();
        self.limiter.acquire().await;
        let reaction = Message::Reaction {
            message_id: message_id.to_owned(),
            emoji: emoji.to_owned(),
        };
        if let Err(e) = self.replies.send(from, &reaction).await {
            tracing::warn!(error = %e, "cannot react to a button press");
        }
        inbound::finish(&self.pool, &report.key, None).await
    }

    /// The press's actions; `false` when the report was finished or
    /// scheduled again instead (nothing to acknowledge now).
    async fn press_actions(&self, report: &Pending) -> anyhow::Result<bool> {
        let finish = |note: &'static str| async move {
            inbound::finish(&self.pool, &report.key, Some(note))
                .await
                .map(|()| false)
        };
        let (Some(from), Some(reference)) = (&report.from_number, &report.reference) else {
            return finish("a button without a sender or reference").await;
        };
        let Ok(lead) = uuid::Uuid::parse_str(reference) else {
            return finish("a button with a malformed reference").await;
        };
        let owners = contacts::users_with_number(&self.pool, from).await?;
        let tasks: Vec<_> = notifications::tasks_of_message(&self.pool, lead)
            .await?
            .into_iter()
            .filter(|(_, user)| owners.contains(user))
            .collect();
        if tasks.is_empty() {
            tracing::warn!(from = %from.masked(), "a button for a message that was not sent to its sender");
            return finish("no message of this sender's has that reference").await;
        }
        let mut retry = None;
        for (task_id, _) in &tasks {
            let task_id = task_id.to_string();
            let result = match report.kind {
                ReportKind::Done => self.tasks.complete(&task_id).await,
                _ => self.tasks.snooze(&task_id, SNOOZE).await,
            };
            metrics::counter!("button_actions_total", "action" => report.kind.as_db(), "result" => match &result {
                CallResult::Done => "done",
                CallResult::Refused(_) => "refused",
                CallResult::Retry(_) => "retry",
            })
            .increment(1);
            match result {
                CallResult::Done => {}
                CallResult::Refused(why) => {
                    tracing::info!(
                        task_id,
                        why,
                        action = report.kind.as_db(),
                        "task-service refused a button's action"
                    );
                }
                CallResult::Retry(why) => retry = Some(why),
            }
        }
        match retry {
            // Completing twice changes nothing; snoozing twice would add a
            // second reminder, a smaller harm than losing the press.
            Some(why) if report.attempts < ACTION_TRIES => {
                let delay = chrono::Duration::seconds(i64::from(report.attempts.min(30)));
                inbound::retry_at(&self.pool, &report.key, Utc::now() + delay, &why).await?;
                Ok(false)
            }
            Some(why) => {
                tracing::error!(why, "gave up on a button's action");
                finish("task-service unreachable; gave up").await
            }
            None => Ok(true),
        }
    }

    /// A message in words from a confirmed contact's number: `help` (or
    /// `?`) answers what can be sent; anything else is only recorded for now.
    async fn text(&self, report: &Pending) -> anyhow::Result<()> {
        let (Some(from), Some(text)) = (&report.from_number, report.detail.as_deref()) else {
            return inbound::finish(&self.pool, &report.key, None).await;
        };
        let command = text.trim().to_lowercase();
        if !matches!(command.as_str(), "help" | "?") {
            return inbound::finish(&self.pool, &report.key, None).await;
        }
        let confirmed = contacts::for_number(&self.pool, from)
            .await?
            .iter()
            .any(|c| c.whatsapp_status() == WhatsAppStatus::Confirmed);
        if !confirmed {
            return inbound::finish(&self.pool, &report.key, Some("not a confirmed number")).await;
        }
        if let Some(free) =
            contacts::reserve_slot_by_number(&self.pool, from, RECIPIENT_GAP).await?
        {
            return inbound::retry_at(&self.pool, &report.key, free, "help waits for the slot")
                .await;
        }
        self.limiter.acquire().await;
        let help = Message::Text { body: HELP.into() };
        if let Err(e) = self.replies.send(from, &help).await {
            tracing::warn!(error = %e, "cannot answer help");
        }
        inbound::finish(&self.pool, &report.key, None).await
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
        if let Some(free) =
            contacts::reserve_slot_by_number(&self.pool, from, RECIPIENT_GAP).await?
        {
            inbound::retry_at(
                &self.pool,
                &report.key,
                free,
                "confirmation waits for the recipient's slot",
            )
            .await?;
            return Ok(());
        }
        let body = if start {
            "Reminders are on. Send STOP to stop them."
        } else {
            "You will get no more reminders here. Send START to get them again."
        };
        self.limiter.acquire().await;
        // The user just wrote to us: the window is open for a text.
        if let Err(e) = self
            .replies
            .send(from, &Message::Text { body: body.into() })
            .await
        {
            tracing::warn!(error = %e, "cannot confirm STOP/START");
        }
        inbound::finish(&self.pool, &report.key, None).await?;
        Ok(())
    }
}
