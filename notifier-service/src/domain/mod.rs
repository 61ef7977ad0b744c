//! The notifier's rules, as types that can only hold checked values:
//! contacts (E.164 numbers, zones, locales, quiet hours), notification
//! notifications with their statuses and channels, the reports webhooks
//! bring, and the task events it consumes.

mod contact;
mod event;
mod notification;
pub(crate) mod phrase;
mod report;

pub(crate) use contact::{
    parse_contact_parts, Contact, ContactSpec, Locale, NumberState, Pacing, PhoneNumber,
    QuietHours, WhatsAppStatus, Zone,
};
pub(crate) use event::{EventKind, TaskEvent};
pub(crate) use notification::{Channel, Notification, Status};
pub(crate) use report::ReportKind;
pub(crate) use todogenie_common::auth::UserId;
pub(crate) use todogenie_common::FieldViolations;
