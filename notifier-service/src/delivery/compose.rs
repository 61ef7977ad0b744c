//! The words of a reminder: one task or a digest of several, as the
//! template (outside the 24-hour window), reply buttons (inside it), or a
//! text (SMS). Times are shown in the contact's zone and locale.

use chrono::{DateTime, Utc};

use crate::domain::{Contact, Notification};
use crate::providers::Message;

/// Button payloads name the message's lead notification; a digest's tasks
/// are found from it (`store::notifications::tasks_of_message`).
pub(crate) fn done_payload(lead: uuid::Uuid) -> String {
    format!("done:{lead}")
}

pub(crate) fn snooze_payload(lead: uuid::Uuid) -> String {
    format!("snooze:{lead}")
}

/// Template parameters may be at most 1,024 characters; interactive bodies too.
const MAX_TEXT: usize = 1000;

/// The local time of `at` for this contact, e.g. `Sat 21 Nov 2026, 09:00 CET`.
pub(crate) fn local_time(contact: &Contact, at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&contact.spec.zone.0);
    local
        .format_localized(
            "%a %-d %b %Y, %H:%M %Z",
            contact.spec.locale.chrono_locale(),
        )
        .to_string()
}

pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The message for `rows` (one recipient, at least one row), the template
/// unless `interactive`.
pub(crate) fn whatsapp(rows: &[Notification], contact: &Contact, interactive: bool) -> Message {
    let lead = rows[0].id;
    let earliest = rows
        .iter()
        .map(Notification::due)
        .min()
        .unwrap_or(rows[0].reminder_time);
    let due = local_time(contact, earliest);
    if interactive {
        Message::Interactive {
            body: truncate(&text_body(rows, contact), MAX_TEXT),
            done_id: done_payload(lead),
            snooze_id: snooze_payload(lead),
        }
    } else {
        let title = if rows.len() == 1 {
            rows[0].task_title.clone()
        } else {
            let titles: Vec<&str> = rows.iter().map(|r| r.task_title.as_str()).collect();
            format!("{} tasks: {}", rows.len(), titles.join("; "))
        };
        Message::Template {
            title: truncate(&title, MAX_TEXT),
            due,
            done_payload: done_payload(lead),
            snooze_payload: snooze_payload(lead),
        }
    }
}

/// A plain-text reminder (interactive bodies and SMS).
pub(crate) fn text_body(rows: &[Notification], contact: &Contact) -> String {
    if let [row] = rows {
        return format!(
            "⏰ Reminder: {}\nDue {}",
            row.task_title,
            local_time(contact, row.due())
        );
    }
    let mut body = format!("⏰ {} tasks are due:", rows.len());
    for row in rows {
        body.push_str(&format!(
            "\n• {} (due {})",
            row.task_title,
            local_time(contact, row.due())
        ));
    }
    body
}

/// SMS: no buttons; the text says what to do.
pub(crate) fn sms(rows: &[Notification], contact: &Contact) -> Message {
    Message::Text {
        body: truncate(&text_body(rows, contact), 1500),
    }
}
