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
pub mod error;
pub mod events;
pub mod grpc;
pub mod http;
pub mod relay;
pub mod scheduler;
pub mod service;
pub mod startup;
pub mod store;
pub mod wake;
pub mod watch;

pub use todogenie_common::{auth, metrics, page_token, telemetry};
