//! The `today` list: the open tasks due today or overdue, sent as a list to
//! pick from, and a picked row answered with that task's *Done* and
//! *Snooze 1h* (which `press` acts on).

use chrono::{DateTime, Duration, TimeZone, Utc};
use todogenie_proto::v1 as pb;

use super::talk::{text_message, timestamp, MAX_BODY};
use super::InboundWorker;
use crate::delivery::compose::{local_time, truncate};
use crate::domain::{Contact, PhoneNumber};
use crate::providers::{ListRow, Message};
use crate::store::inbound::{self, Pending};
use crate::task_client::Failure;

/// Rows in the `today` list (WhatsApp's limit is 10).
const LIST_ROWS: i32 = 10;

impl InboundWorker {
    /// `today`: the open tasks due today or overdue, as a list.
    pub(super) async fn today(
        &self,
        report: &Pending,
        from: &PhoneNumber,
        contact: &Contact,
    ) -> anyhow::Result<()> {
        let now = report.receive_time;
        let tasks = match self
            .tasks
            .open_due_before(
                contact.spec.user.as_str(),
                end_of_day(contact, now),
                LIST_ROWS,
            )
            .await
        {
            Ok(tasks) => tasks,
            Err(Failure::Retry(why)) => return self.retry_later(report, &why).await,
            Err(Failure::Refused(why)) => {
                tracing::warn!(why, "task-service refused the today list");
                return inbound::finish(&self.pool, &report.key, Some("refused by task-service"))
                    .await;
            }
        };
        if tasks.is_empty() {
            return self
                .reply(report, from, text_message("Nothing is due today."))
                .await;
        }
        let rows = tasks
            .iter()
            .map(|task| ListRow {
                id: format!("task:{}", task.id),
                title: truncate(&task.title, 24),
                description: truncate(&due_words(task, contact, now), 72),
            })
            .collect::<Vec<_>>();
        let body = match rows.len() {
            1 => "1 open task is due today or overdue.".to_owned(),
            n if n == LIST_ROWS as usize => {
                format!("The first {n} open tasks due today or overdue.")
            }
            n => format!("{n} open tasks are due today or overdue."),
        };
        let list = Message::List {
            body,
            button: "Tasks".into(),
            rows,
        };
        self.reply(report, from, list).await
    }

    /// A row picked from the list: that task's *Done* and *Snooze 1h*.
    pub(super) async fn pick(&self, report: &Pending) -> anyhow::Result<()> {
        let (Some(from), Some(task_id)) = (&report.from_number, &report.reference) else {
            return inbound::finish(
                &self.pool,
                &report.key,
                Some("a pick without a sender or row"),
            )
            .await;
        };
        let Some(contact) = self.talking_contact(from).await? else {
            return self.stranger(report, from).await;
        };
        let task = match self.own_task(&contact, task_id).await {
            Ok(Some(task)) => task,
            Ok(None) => {
                return self
                    .reply(report, from, text_message("That task is gone."))
                    .await;
            }
            Err(why) => return self.retry_later(report, &why).await,
        };
        let body = truncate(
            &format!(
                "{}\n{}",
                task.title,
                due_words(&task, &contact, report.receive_time)
            ),
            MAX_BODY,
        );
        let buttons = Message::Interactive {
            body,
            done_id: format!("task-done:{}", task.id),
            snooze_id: format!("task-snooze:{}", task.id),
        };
        self.reply(report, from, buttons).await
    }
}

/// A list row's description: when the task is due, or since when overdue.
fn due_words(task: &pb::Task, contact: &Contact, now: DateTime<Utc>) -> String {
    match timestamp(task.due_time.as_ref()) {
        Some(due) if due < now => format!("Overdue since {}", local_time(contact, due)),
        Some(due) => format!("Due {}", local_time(contact, due)),
        None => "No due time".into(),
    }
}

/// The end of the contact's day that holds `now` (the first instant of the
/// next day, or an hour later where midnight does not exist).
fn end_of_day(contact: &Contact, now: DateTime<Utc>) -> DateTime<Utc> {
    let zone = contact.spec.zone.0;
    let tomorrow = now.with_timezone(&zone).date_naive() + Duration::days(1);
    let midnight = tomorrow.and_hms_opt(0, 0, 0).expect("midnight is a time");
    zone.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(midnight + Duration::hours(1)))
                .earliest()
        })
        .map_or(now + Duration::days(1), |t| t.with_timezone(&Utc))
}
