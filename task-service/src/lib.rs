//! TodoGenie task-service: users' tasks over gRPC, stored in PostgreSQL.
//!
//! - `grpc`: where requests enter (handlers, protobuf conversions, page tokens).
//! - `auth`: JWTs, roles and the interceptor.
//! - `domain`: the rules, as checked types (titles, tags, lifecycle, schedules).
//! - `service`: each operation's transaction and access rules.
//! - `store`: every SQL statement, migrations in `../migrations`.
//! - `startup`, `config`, `http`, `metrics`, `telemetry`: running the process.

pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
