//! API tests: the real task-service over a real socket against the real
//! PostgreSQL, one fresh database per test.

mod auth;
mod create;
mod events;
mod helpers;
mod hostile;
mod lifecycle;
mod list;
mod operations;
mod read_delete;
mod recurrence;
mod reminders;
mod update;
mod watch;
