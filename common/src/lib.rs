//! What task-service and notifier-service share, so each rule is written once:
//!
//! - `auth`: HS256 JWTs, roles, the caller, the gRPC interceptor.
//! - `violations`: every bad field of a request in one `INVALID_ARGUMENT`.
//! - `page_token`: signed, caller-bound page tokens.
//! - `cli`: one-line start-up errors that name the variable and its flag.
//! - `db`: creating a service's database and checking it answers.
//! - `metrics`, `telemetry`: Prometheus and `tracing` set-up.
//! - `process`: the runtime and the signals that stop it.

pub mod auth;
pub mod cli;
pub mod db;
pub mod metrics;
pub mod page_token;
pub mod process;
pub mod telemetry;
mod violations;

pub use violations::FieldViolations;
