//! A notification (one reminder of one task to one person), its status and
//! channel, and the one rule about statuses: they only move forward.

use chrono::{DateTime, Utc};
use todogenie_proto::v1 as pb;
use uuid::Uuid;

use super::UserId;

/// One reminder of one task for one user, and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notification {
    pub id: Uuid,
    pub user_id: UserId,
    pub task_id: Uuid,
    pub event_id: Uuid,
    pub reminder_time: DateTime<Utc>,
    pub task_title: String,
    pub due_time: Option<DateTime<Utc>>,
    pub channel: Channel,
    pub status: Status,
    /// Notifications sent together as one digest share this (the lead's id).
    pub batch_id: Option<Uuid>,
    pub provider_message_id: Option<String>,
    /// Requests made for it, the one in flight included.
    pub attempts: i32,
    /// Failed attempts counted towards the retry limit.
    pub failures: i32,
    pub last_error: Option<String>,
    /// When it is due to go out (while a sender holds it, its lease's end).
    pub scheduled_time: DateTime<Utc>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// The trace of the event that queued it, if traces were exported.
    pub traceparent: Option<String>,
}

impl Notification {
    /// The time the message shows: the task's due time, or the reminder's.
    pub(crate) fn due(&self) -> DateTime<Utc> {
        self.due_time.unwrap_or(self.reminder_time)
    }
}

/// Bound as the text in `notifications.status` (its CHECK lists the same
/// words); read back with [`Status::from_db`], which names the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Status {
    Queued,
    Deferred,
    Sent,
    Delivered,
    Read,
    Failed,
    Skipped,
}

impl Status {
    pub(crate) fn as_db(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::Deferred => "DEFERRED",
            Status::Sent => "SENT",
            Status::Delivered => "DELIVERED",
            Status::Read => "READ",
            Status::Failed => "FAILED",
            Status::Skipped => "SKIPPED",
        }
    }

    pub(crate) const ALL: [Status; 7] = [
        Status::Queued,
        Status::Deferred,
        Status::Sent,
        Status::Delivered,
        Status::Read,
        Status::Failed,
        Status::Skipped,
    ];

    /// `None` for a value no row should hold (the migration's CHECK allows
    /// exactly [`Status::ALL`]).
    pub(crate) fn from_db(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_db() == raw)
    }

    /// A provider's status report (Meta `sent|delivered|read|failed`,
    /// Twilio `sent|delivered|read|failed|undelivered`).
    pub(crate) fn from_report(raw: &str) -> Option<Self> {
        match raw {
            "sent" => Some(Status::Sent),
            "delivered" => Some(Status::Delivered),
            "read" => Some(Status::Read),
            "failed" | "undelivered" => Some(Status::Failed),
            _ => None,
        }
    }

    /// The order reports may move a status in: a late `delivered` never
    /// overwrites `read`, and nothing comes after `failed`. The SQL that
    /// applies reports compares the same ranks (`status_rank` in the
    /// migrations); this is the rule as the tests state it.
    #[cfg(test)]
    pub(crate) fn rank(self) -> i32 {
        match self {
            Status::Queued | Status::Deferred => 0,
            Status::Sent => 1,
            Status::Delivered => 2,
            Status::Read => 3,
            Status::Failed | Status::Skipped => 4,
        }
    }

    pub(crate) fn to_pb(self) -> pb::NotificationStatus {
        match self {
            Status::Queued => pb::NotificationStatus::Queued,
            Status::Deferred => pb::NotificationStatus::Deferred,
            Status::Sent => pb::NotificationStatus::Sent,
            Status::Delivered => pb::NotificationStatus::Delivered,
            Status::Read => pb::NotificationStatus::Read,
            Status::Failed => pb::NotificationStatus::Failed,
            Status::Skipped => pb::NotificationStatus::Skipped,
        }
    }

    pub(crate) fn from_pb(status: pb::NotificationStatus) -> Option<Self> {
        match status {
            pb::NotificationStatus::Unspecified => None,
            pb::NotificationStatus::Queued => Some(Status::Queued),
            pb::NotificationStatus::Deferred => Some(Status::Deferred),
            pb::NotificationStatus::Sent => Some(Status::Sent),
            pb::NotificationStatus::Delivered => Some(Status::Delivered),
            pb::NotificationStatus::Read => Some(Status::Read),
            pb::NotificationStatus::Failed => Some(Status::Failed),
            pb::NotificationStatus::Skipped => Some(Status::Skipped),
        }
    }
}

/// Bound as the text in `notifications.channel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub(crate) enum Channel {
    WhatsApp,
    Sms,
}

impl Channel {
    pub(crate) fn as_db(self) -> &'static str {
        match self {
            Channel::WhatsApp => "whatsapp",
            Channel::Sms => "sms",
        }
    }

    pub(crate) fn from_db(raw: &str) -> Option<Self> {
        [Channel::WhatsApp, Channel::Sms]
            .into_iter()
            .find(|c| c.as_db() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_read_back_and_nothing_else_does() {
        for status in Status::ALL {
            assert_eq!(Status::from_db(status.as_db()), Some(status));
        }
        assert_eq!(Status::from_db("queued"), None);
        assert_eq!(Channel::from_db("sms"), Some(Channel::Sms));
        assert_eq!(Channel::from_db("whatsapp"), Some(Channel::WhatsApp));
        assert_eq!(Channel::from_db("telegram"), None);
    }

    #[test]
    fn reports_rank_in_the_order_a_message_lives() {
        let order =
            ["sent", "delivered", "read", "failed"].map(|s| Status::from_report(s).unwrap().rank());
        assert!(order.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Status::from_report("undelivered"), Some(Status::Failed));
        assert_eq!(Status::from_report("deleted"), None);
    }
}
