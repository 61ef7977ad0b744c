//! Talking to TodoGenie: what a confirmed contact writes to the business
//! number, answered inside the window it opened. `help` and `?` list what
//! can be sent; `today` and `list` show the open tasks due today or
//! overdue as a list to pick from (`today`); `undo` (or the *Undo* button) deletes the
//! task a message just made; anything else becomes a task
//! (`domain::phrase` reads it), made through task-service with the message
//! id as `request_id`, so a webhook delivered twice makes one task. A
//! number with no confirmed contact gets one short answer a day.

use chrono::{DateTime, Utc};
use todogenie_proto::v1 as pb;

use super::{InboundWorker, ACTION_TRIES};
use crate::delivery::compose::{local_time, truncate};
use crate::domain::phrase::{self, Dialect, Due, Priority, Said};
use crate::domain::{Contact, PhoneNumber, WhatsAppStatus};
use crate::providers::Message;
use crate::store::inbound::{self, Pending};
use crate::store::{contacts, numbers};
use crate::task_client::Failure;

/// What `help` answers: what can be sent here.
const HELP: &str = "TodoGenie: write a task and when it is due, e.g. \
\"pay rent tomorrow 9am #home !high\" or \"call mom every sunday 6pm\"; \
\"quotes\" keep words as they are. Send TODAY for what is due, UNDO to remove \
the task just added, STOP to stop reminders here, START to get them again.";
/// What a number with no confirmed contact hears, at most once a day.
const NOT_LINKED: &str = "This number is not linked to a TodoGenie account. \
If you asked for reminders here, reply START.";
/// Interactive message bodies may be at most 1,024 characters.
pub(super) const MAX_BODY: usize = 1024;
/// Tasks one number may make by message in an hour: far more than a person
/// types, and a bound on a script behind a confirmed number (the service
/// token skips task-service's per-user rate and quota).
const MAX_TASKS_PER_HOUR: i64 = 60;

impl InboundWorker {
    /// A message in words.
    pub(super) async fn text(&self, report: &Pending) -> anyhow::Result<()> {
        let Some(from) = &report.from_number else {
            return inbound::finish(&self.pool, &report.key, Some("no sender")).await;
        };
        let Some(contact) = self.talking_contact(from).await? else {
            return self.stranger(report, from).await;
        };
        let text = report.detail.as_deref().unwrap_or_default();
        match text.trim().to_lowercase().as_str() {
            "" => inbound::finish(&self.pool, &report.key, Some("no text")).await,
            "help" | "?" => {
                self.reply(report, from, Message::Text { body: HELP.into() })
                    .await
            }
            "today" | "list" => self.today(report, from, &contact).await,
            "undo" => match inbound::last_made_task(&self.pool, from).await? {
                Some(task_id) => self.remove(report, from, &task_id).await,
                None => {
                    self.reply(report, from, text_message("Nothing to undo."))
                        .await
                }
            },
            _ => self.create(report, from, &contact, text).await,
        }
    }

    /// The contact a number speaks for: its confirmed one (the first by
    /// user id, if several users confirmed one number).
    pub(super) async fn talking_contact(
        &self,
        from: &PhoneNumber,
    ) -> anyhow::Result<Option<Contact>> {
        let mut contacts: Vec<Contact> = contacts::for_number(&self.pool, from)
            .await?
            .into_iter()
            .filter(|c| c.whatsapp_status() == WhatsAppStatus::Confirmed)
            .collect();
        contacts.sort_by(|a, b| a.spec.user.as_str().cmp(b.spec.user.as_str()));
        Ok(contacts.into_iter().next())
    }

    /// No task for a number no confirmed contact has; one answer a day.
    pub(super) async fn stranger(
        &self,
        report: &Pending,
        from: &PhoneNumber,
    ) -> anyhow::Result<()> {
        // A number some user typed in may just have been sent its
        // confirmation request: its 6-second slot first.
        if !self.slot(report, from).await? {
            return Ok(());
        }
        // Taken once: a retry of the answer does not count as today's second.
        if !report.applied {
            if !numbers::take_stranger_answer(&self.pool, from).await? {
                return inbound::finish(
                    &self.pool,
                    &report.key,
                    Some("not linked; answered today"),
                )
                .await;
            }
            inbound::mark_applied(&self.pool, &report.key).await?;
        }
        tracing::info!(from = %from.masked(), "a message from a number that is not linked");
        self.answer(report, from, &text_message(NOT_LINKED), Some("not linked"))
            .await
    }

    /// Sends `message` once the recipient's slot is free, then finishes.
    pub(super) async fn reply(
        &self,
        report: &Pending,
        to: &PhoneNumber,
        message: Message,
    ) -> anyhow::Result<()> {
        if !self.slot(report, to).await? {
            return Ok(());
        }
        self.answer(report, to, &message, None).await
    }

    /// task-service cannot be asked now: again later, a bounded number of times.
    pub(super) async fn retry_later(&self, report: &Pending, why: &str) -> anyhow::Result<()> {
        if report.attempts >= ACTION_TRIES {
            tracing::error!(why, "gave up on a message: task-service unreachable");
            return inbound::finish(
                &self.pool,
                &report.key,
                Some("task-service unreachable; gave up"),
            )
            .await;
        }
        let at = super::from_now(super::try_again_after(report));
        inbound::retry_at(&self.pool, &report.key, at, why).await
    }

    /// Anything else: a new task, and an answer saying what was understood
    /// with an *Undo* button.
    async fn create(
        &self,
        report: &Pending,
        from: &PhoneNumber,
        contact: &Contact,
        text: &str,
    ) -> anyhow::Result<()> {
        let zone = contact.spec.zone.0;
        // Read as of when it was written, so a retry asks for the same task
        // (task-service refuses a request id reused for another request).
        let said = phrase::read(
            text,
            report.receive_time.with_timezone(&zone),
            dialect(contact),
        );
        if said.title.is_empty() {
            return self
                .reply(report, from, Message::Text { body: HELP.into() })
                .await;
        }
        if !report.applied
            && inbound::tasks_made_last_hour(&self.pool, from).await? >= MAX_TASKS_PER_HOUR
        {
            tracing::warn!(from = %from.masked(), "a number is over its tasks per hour");
            let body = format!(
                "You have added {MAX_TASKS_PER_HOUR} tasks in the last hour, the most there \
                 can be; this one was not added. Try again later."
            );
            return self.reply(report, from, Message::Text { body }).await;
        }
        if !self.slot(report, from).await? {
            return Ok(());
        }
        let request_id = super::press::message_id(&report.key);
        let task = match self
            .tasks
            .create(new_task(&said, contact), request_id)
            .await
        {
            Ok(task) => task,
            Err(Failure::Retry(why)) => return self.retry_later(report, &why).await,
            Err(Failure::Refused(why)) => {
                tracing::info!(why, "task-service refused a task written in words");
                let body = truncate(
                    &format!("Sorry, that task could not be added ({why})."),
                    MAX_BODY,
                );
                return self
                    .answer(
                        report,
                        from,
                        &Message::Text { body },
                        Some("refused by task-service"),
                    )
                    .await;
            }
        };
        inbound::mark_applied_with(&self.pool, &report.key, &task.id).await?;
        metrics::counter!("tasks_from_messages_total").increment(1);
        let answer = Message::Undoable {
            body: truncate(&understood(&task, &said, contact), MAX_BODY),
            undo_id: format!("undo:{}", task.id),
        };
        self.answer(report, from, &answer, None).await
    }

    /// The *Undo* button under an answer.
    pub(super) async fn undo(&self, report: &Pending) -> anyhow::Result<()> {
        let (Some(from), Some(task_id)) = (&report.from_number, &report.reference) else {
            return inbound::finish(
                &self.pool,
                &report.key,
                Some("an undo without a sender or task"),
            )
            .await;
        };
        self.remove(report, from, task_id).await
    }

    /// Deletes a task of the number's contact, and says so.
    async fn remove(
        &self,
        report: &Pending,
        from: &PhoneNumber,
        task_id: &str,
    ) -> anyhow::Result<()> {
        let Some(contact) = self.talking_contact(from).await? else {
            return self.stranger(report, from).await;
        };
        // The slot first, so the answer follows the deletion at once.
        if !self.slot(report, from).await? {
            return Ok(());
        }
        let answer = if report.applied {
            "Removed.".to_owned()
        } else {
            match self.own_task(&contact, task_id).await {
                Ok(Some(task)) => {
                    match self.tasks.delete(task_id).await {
                        Ok(()) | Err(Failure::Refused(_)) => {}
                        Err(Failure::Retry(why)) => return self.retry_later(report, &why).await,
                    }
                    inbound::mark_applied(&self.pool, &report.key).await?;
                    format!("Removed: {}", task.title)
                }
                Ok(None) => "Nothing to undo.".to_owned(),
                Err(why) => return self.retry_later(report, &why).await,
            }
        };
        let body = truncate(&answer, MAX_BODY);
        self.answer(report, from, &Message::Text { body }, None)
            .await
    }

    /// The task, if it exists and is the contact's own (another user's is
    /// as good as gone); `Err` when task-service cannot say now.
    pub(super) async fn own_task(
        &self,
        contact: &Contact,
        task_id: &str,
    ) -> Result<Option<pb::Task>, String> {
        match self.tasks.get(task_id).await {
            Ok(task) if task.owner == contact.spec.user.as_str() => Ok(Some(task)),
            Ok(_) | Err(Failure::Refused(_)) => Ok(None),
            Err(Failure::Retry(why)) => Err(why),
        }
    }
}

pub(super) fn text_message(body: &str) -> Message {
    Message::Text { body: body.into() }
}

/// How `03/12` is read: month first for US English, day first elsewhere.
fn dialect(contact: &Contact) -> Dialect {
    let tag = contact.spec.locale.as_str().to_ascii_lowercase();
    if tag == "en-us" || tag.starts_with("en-us-") {
        Dialect::Us
    } else {
        Dialect::Uk
    }
}

/// The task CreateTask is asked for: the contact's user owns it, in the
/// contact's zone.
fn new_task(said: &Said, contact: &Contact) -> pb::Task {
    pb::Task {
        owner: contact.spec.user.as_str().to_owned(),
        title: said.title.clone(),
        tags: said.tags.clone(),
        priority: match said.priority {
            Some(Priority::High) => pb::Priority::High.into(),
            Some(Priority::Low) => pb::Priority::Low.into(),
            None => pb::Priority::Unspecified.into(),
        },
        due_time: match said.due {
            Due::At(at) => Some(prost_types::Timestamp {
                seconds: at.timestamp(),
                nanos: 0,
            }),
            _ => None,
        },
        time_zone: contact.spec.zone.name().to_owned(),
        recurrence: said.repeat.map(|r| r.rule()).unwrap_or_default(),
        ..Default::default()
    }
}

pub(super) fn timestamp(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, 0))
}

/// The answer to a new task: what was understood, in the contact's zone
/// and locale.
fn understood(task: &pb::Task, said: &Said, contact: &Contact) -> String {
    let mut lines = vec![format!("Added: {}", task.title)];
    lines.push(match (timestamp(task.due_time.as_ref()), &said.due) {
        (Some(due), _) => format!("Due: {}", local_time(contact, due)),
        (None, Due::Unreadable(words)) => {
            format!("Due: none (\"{words}\" is not a date I can read)")
        }
        (None, _) => "Due: none".into(),
    });
    if !task.tags.is_empty() {
        let tags: Vec<String> = task.tags.iter().map(|t| format!("#{t}")).collect();
        lines.push(format!("Tags: {}", tags.join(" ")));
    }
    match pb::Priority::try_from(task.priority) {
        Ok(pb::Priority::High) => lines.push("Priority: high".into()),
        Ok(pb::Priority::Low) => lines.push("Priority: low".into()),
        _ => {}
    }
    if let (false, Some(repeat)) = (task.recurrence.is_empty(), said.repeat) {
        lines.push(format!("Repeats: {}", repeat.describe()));
    }
    lines.join("\n")
}
