//! TodoGenie task-service: users' tasks over gRPC, stored in PostgreSQL.
//!
//! - `grpc`: where requests enter (handlers, protobuf conversions, page tokens).
//! - `auth`: JWTs, roles and the interceptor.
//! - `domain`: the rules, as checked types (titles, tags, lifecycle, schedules).
//! - `service`: each operation's transaction and access rules.
//! - `store`: every SQL statement, migrations in `../migrations`.
//! - `events`, `relay`, `scheduler`, `watch`: events in the outbox, publishing
//!   them to RabbitMQ, firing reminders, and streaming events to WatchTasks.
//! - `startup`, `config`, `http`, `metrics`, `telemetry`: running the process.

pub mod config;
pub mod domain;
pub(crate) mod error;
pub mod events;
pub(crate) mod grpc;
pub(crate) mod http;
pub mod relay;
pub(crate) mod scheduler;
pub(crate) mod service;
pub mod startup;
pub mod store;
pub mod wake;
pub(crate) mod watch;

pub use todogenie_common::{auth, metrics, page_token, telemetry};
