//! *Done* and *Snooze* pressed: on a reminder (every task of that message)
//! or on a task picked from the `today` list; each acted on through
//! task-service only if the task is the pressing number's user's, then
//! acknowledged with a reaction (✅, ⏰).

use super::{from_now, try_again_after, InboundWorker, ACTION_TRIES, SNOOZE};
use crate::domain::ReportKind;
use crate::providers::Message;
use crate::store::inbound::{self, Pending};
use crate::store::{contacts, notifications};
use crate::task_client::{CallResult, Failure};

impl InboundWorker {
    /// Done or Snooze: the actions once (the report marked applied), then
    /// the reaction.
    pub(super) async fn press(&self, report: &Pending) -> anyhow::Result<()> {
        if !report.applied {
            let acted = self.press_actions(report).await?;
            if !acted {
                return Ok(());
            }
            inbound::mark_applied(&self.pool, &report.key).await?;
        }
        self.acknowledge(report).await
    }

    /// A press answered like a person would: a reaction on it, once the
    /// recipient's 6-second slot is free; best effort.
    async fn acknowledge(&self, report: &Pending) -> anyhow::Result<()> {
        let Some(from) = &report.from_number else {
            return inbound::finish(&self.pool, &report.key, None).await;
        };
        if !self.slot(report, from).await? {
            return Ok(());
        }
        let emoji = if report.kind == ReportKind::Done {
            "✅"
        } else {
            "⏰"
        };
        let reaction = Message::Reaction {
            message_id: message_id(&report.key).to_owned(),
            emoji: emoji.to_owned(),
        };
        self.answer(report, from, &reaction, None).await
    }

    /// The tasks a press acts on: the reminder's (by its lead notification)
    /// or the one task a list pick named (`task:<id>`); only those of the
    /// users this number belongs to.
    async fn pressed_tasks(
        &self,
        report: &Pending,
    ) -> anyhow::Result<Result<Vec<String>, &'static str>> {
        let (Some(from), Some(reference)) = (&report.from_number, &report.reference) else {
            return Ok(Err("a button without a sender or reference"));
        };
        let owners = contacts::users_with_number(&self.pool, from).await?;
        if let Some(task_id) = reference.strip_prefix("task:") {
            return Ok(match self.tasks.get(task_id).await {
                Ok(task) if owners.contains(&task.owner) => Ok(vec![task_id.to_owned()]),
                Ok(_) | Err(Failure::Refused(_)) => Err("not a task of this sender's"),
                Err(Failure::Retry(_)) => Ok(Vec::new()),
            });
        }
        let Ok(lead) = uuid::Uuid::parse_str(reference) else {
            return Ok(Err("a button with a malformed reference"));
        };
        let tasks: Vec<String> = notifications::tasks_of_message(&self.pool, lead)
            .await?
            .into_iter()
            .filter(|(_, user)| owners.contains(user))
            .map(|(task, _)| task.to_string())
            .collect();
        if tasks.is_empty() {
            return Ok(Err("no message of this sender's has that reference"));
        }
        Ok(Ok(tasks))
    }

    /// The press's actions; `false` when the report was finished or
    /// scheduled again instead (nothing to acknowledge now).
    async fn press_actions(&self, report: &Pending) -> anyhow::Result<bool> {
        let tasks = match self.pressed_tasks(report).await? {
            Ok(tasks) => tasks,
            Err(note) => {
                tracing::warn!(note, "a button that does not act");
                inbound::finish(&self.pool, &report.key, Some(note)).await?;
                return Ok(false);
            }
        };
        // An empty list: task-service could not be asked whose task it is.
        let mut retry = tasks
            .is_empty()
            .then(|| "task-service cannot say whose task it is".to_owned());
        for task_id in &tasks {
            let result = match report.kind {
                ReportKind::Done => self.tasks.complete(task_id).await,
                _ => self.tasks.snooze(task_id, SNOOZE).await,
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
                let at = from_now(try_again_after(report));
                inbound::retry_at(&self.pool, &report.key, at, &why).await?;
                Ok(false)
            }
            Some(why) => {
                tracing::error!(why, "gave up on a button's action");
                inbound::finish(
                    &self.pool,
                    &report.key,
                    Some("task-service unreachable; gave up"),
                )
                .await?;
                Ok(false)
            }
            None => Ok(true),
        }
    }
}

/// The provider's id of an inbound message, from its report key.
pub(super) fn message_id(key: &str) -> &str {
    key.strip_prefix("meta:message:")
        .or_else(|| key.strip_prefix("twilio:message:"))
        .unwrap_or(key)
}
