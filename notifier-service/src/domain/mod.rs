//! The notifier's rules, as types that can only hold checked values:
//! contacts (E.164 numbers, zones, locales, quiet hours), notification
//! statuses and channels, and the task events it consumes.

mod contact;
mod event;
mod notification;

pub use contact::{
    parse_contact_parts, Contact, ContactSpec, Locale, PhoneNumber, QuietHours, Zone,
};
pub use event::{EventKind, TaskEvent};
pub use notification::{Channel, Status};
pub use todogenie_common::auth::UserId;
pub use todogenie_common::FieldViolations;
