//! API tests: the real task-service over a real socket against the real
//! PostgreSQL, one fresh database per test.

mod auth;
mod bounds;
mod browser;
mod create;
mod events;
mod group_commit;
mod helpers;
mod hostile;
mod lifecycle;
mod limits;
mod list;
mod list_access;
mod list_scan;
mod long_text;
mod next_reminder;
mod operations;
mod outbox;
mod read_delete;
mod recurrence;
mod reminders;
mod update;
mod uploads;
mod watch;
