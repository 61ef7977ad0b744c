//! A notification's status and channel, and the one rule about statuses:
//! they only move forward.

use todogenie_proto::v1 as pb;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Queued,
    Deferred,
    Sent,
    Delivered,
    Read,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_db(self) -> &'static str {
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

    pub fn from_db(raw: &str) -> Self {
        match raw {
            "DEFERRED" => Status::Deferred,
            "SENT" => Status::Sent,
            "DELIVERED" => Status::Delivered,
            "READ" => Status::Read,
            "FAILED" => Status::Failed,
            "SKIPPED" => Status::Skipped,
            _ => Status::Queued,
        }
    }

    /// A provider's status report (Meta `sent|delivered|read|failed`,
    /// Twilio `sent|delivered|read|failed|undelivered`).
    pub fn from_report(raw: &str) -> Option<Self> {
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
    /// applies reports compares these ranks (see `store::notifications`).
    pub fn rank(self) -> i32 {
        match self {
            Status::Queued | Status::Deferred => 0,
            Status::Sent => 1,
            Status::Delivered => 2,
            Status::Read => 3,
            Status::Failed | Status::Skipped => 4,
        }
    }

    pub fn to_pb(self) -> pb::NotificationStatus {
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

    pub fn from_pb(status: pb::NotificationStatus) -> Option<Self> {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    WhatsApp,
    Sms,
}

impl Channel {
    pub fn as_db(self) -> &'static str {
        match self {
            Channel::WhatsApp => "whatsapp",
            Channel::Sms => "sms",
        }
    }

    pub fn from_db(raw: &str) -> Self {
        if raw == "sms" {
            Channel::Sms
        } else {
            Channel::WhatsApp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_rank_in_the_order_a_message_lives() {
        let order =
            ["sent", "delivered", "read", "failed"].map(|s| Status::from_report(s).unwrap().rank());
        assert!(order.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Status::from_report("undelivered"), Some(Status::Failed));
        assert_eq!(Status::from_report("deleted"), None);
    }
}
