//! What task-service and notifier-service share, so each rule is written once:
//!
//! - `auth`: HS256 JWTs, roles, the caller, the gRPC interceptor.
//! - `error`: the APIs' error type and its one mapping to `tonic::Status`.
//! - `violations`: every bad field of a request in one `INVALID_ARGUMENT`.
//! - `page_token`: signed, caller-bound page tokens.
//! - `events`: the task event contract (CloudEvents envelope, types, `data`).
//! - `amqp`: connections and the event topology; `backoff`: retry delays.
//! - `db`: creating, connecting and migrating a service's database.
//! - `serve`: gRPC with health and reflection, HTTP, and a bounded shutdown;
//!   `http_server`: the HTTP listener's connection limit and timeouts;
//!   `grpc_incoming`: the gRPC listener's connection limit;
//!   `accepted`: a connection's place and its first-bytes deadline.
//! - `settings`, `cli`: shared settings and one-line start-up errors.
//! - `metrics`, `telemetry`: Prometheus and `tracing` set-up.
//! - `process`: `main`, the runtime and the signals that stop it.

pub mod accepted;
pub mod amqp;
pub mod auth;
pub mod backoff;
pub mod browser;
pub mod cli;
pub mod db;
pub mod error;
pub mod events;
pub mod group_commit;
pub mod grpc_incoming;
pub mod http_server;
pub mod metrics;
pub mod page_token;
pub mod process;
pub mod request_budget;
pub mod serve;
pub mod settings;
pub mod telemetry;
mod violations;

pub use violations::{quote, FieldViolations};
