//! TodoGenie notifier-service: WhatsApp reminders for task events, and the
//! replies that act on tasks.
//!
//! - `grpc`: where API requests enter (NotifierService, conversions).
//! - `webhooks`: where Meta's and Twilio's callbacks enter.
//! - `consumer`: where task events enter (RabbitMQ).
//! - `service`: who may do what through the API, and paging.
//! - `domain`: the rules, as checked types (E.164 numbers, quiet hours, statuses).
//! - `delivery`: the engine that sends notifications (pacing, digests, rate,
//!   retries, fallback); `providers`: Meta, Twilio and `log`.
//! - `inbound`: acting on webhooks (statuses, Done/Snooze via `task_client`, STOP/START);
//!   `confirm`: asking a number to confirm before it gets reminders; `rounds`:
//!   their loop.
//! - `retention`: forgetting what is finished after `NOTIFIER_RETENTION`.
//! - `store`: every SQL statement, migrations in `../migrations`.
//! - `startup`, `config`, `http`: running the process.

pub mod config;
pub(crate) mod confirm;
pub(crate) mod consumer;
pub(crate) mod delivery;
pub(crate) mod domain;
pub(crate) mod error;
pub(crate) mod grpc;
pub(crate) mod http;
pub(crate) mod inbound;
pub(crate) mod providers;
pub(crate) mod retention;
pub(crate) mod rounds;
pub(crate) mod service;
pub mod startup;
pub(crate) mod store;
pub(crate) mod task_client;
pub(crate) mod webhooks;

pub use todogenie_common::{auth, metrics, telemetry};
