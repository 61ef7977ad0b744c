//! What a webhook can tell us: the kinds of inbound report the worker acts
//! on.

/// Bound as the text in `inbound.kind` (its CHECK lists the same words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub(crate) enum ReportKind {
    /// A delivery status of a message we sent.
    Status,
    /// The *Done* button.
    Done,
    /// The *Snooze* button.
    Snooze,
    Stop,
    Start,
    /// Any other message.
    Text,
    /// The *Undo* button under a task made from a message.
    Undo,
    /// A row picked from the `today` list.
    Pick,
}

impl ReportKind {
    pub(crate) const ALL: [ReportKind; 8] = [
        ReportKind::Status,
        ReportKind::Done,
        ReportKind::Snooze,
        ReportKind::Stop,
        ReportKind::Start,
        ReportKind::Text,
        ReportKind::Undo,
        ReportKind::Pick,
    ];

    pub(crate) fn as_db(self) -> &'static str {
        match self {
            ReportKind::Status => "status",
            ReportKind::Done => "done",
            ReportKind::Snooze => "snooze",
            ReportKind::Stop => "stop",
            ReportKind::Start => "start",
            ReportKind::Text => "text",
            ReportKind::Undo => "undo",
            ReportKind::Pick => "pick",
        }
    }

    /// `None` for a value no row should hold (the migration's CHECK allows
    /// exactly [`ReportKind::ALL`]).
    pub(crate) fn from_db(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_db() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::ReportKind;

    #[test]
    fn stored_kinds_read_back_and_nothing_else_does() {
        for kind in ReportKind::ALL {
            assert_eq!(ReportKind::from_db(kind.as_db()), Some(kind));
        }
        assert_eq!(ReportKind::from_db("STOP"), None);
    }
}
