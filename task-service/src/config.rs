//! Settings: every one an environment variable and a flag of the same meaning
//! (§1). A malformed value stops the process with one line naming both.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser};

use todogenie_common::cli::{parse_duration, parse_secret};

use crate::auth::JwtSecret;

#[derive(Debug, Parser)]
#[command(
    name = "task-service",
    version,
    about = "TodoGenie task-service: tasks over gRPC"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

pub use todogenie_common::cli::{Command, TokenArgs};

/// The value names are the variables, so clap's errors name flag and
/// variable together: `invalid value 'x' for '--grpc-addr <TASK_GRPC_ADDR>'`.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// gRPC listen address.
    #[arg(
        long,
        env = "TASK_GRPC_ADDR",
        value_name = "TASK_GRPC_ADDR",
        default_value = "127.0.0.1:50051"
    )]
    pub grpc_addr: SocketAddr,

    /// HTTP listen address for /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "TASK_HTTP_ADDR",
        value_name = "TASK_HTTP_ADDR",
        default_value = "127.0.0.1:9101"
    )]
    pub http_addr: SocketAddr,

    /// PostgreSQL URL; the database is created if missing.
    #[arg(
        long,
        env = "TASK_DATABASE_URL",
        value_name = "TASK_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/todogenie_tasks",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Largest number of PostgreSQL connections in the pool.
    #[arg(
        long,
        env = "TASK_DATABASE_MAX_CONNECTIONS",
        value_name = "TASK_DATABASE_MAX_CONNECTIONS",
        default_value_t = 32
    )]
    pub database_max_connections: u32,

    /// RabbitMQ URL (events are published from the next release on).
    #[arg(
        long,
        env = "AMQP_URL",
        value_name = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,

    /// Topic exchange for task events.
    #[arg(
        long,
        env = "AMQP_EXCHANGE",
        value_name = "AMQP_EXCHANGE",
        default_value = "todogenie.events"
    )]
    pub amqp_exchange: String,

    /// HS256 secret for JWTs, at least 16 bytes. Required.
    #[arg(long, env = "JWT_SECRET", value_name = "JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: JwtSecret,

    /// Log filter, e.g. info or task_service=debug.
    #[arg(
        long,
        env = "RUST_LOG",
        value_name = "RUST_LOG",
        default_value = "info"
    )]
    pub log_filter: String,

    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", value_name = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Longest time one RPC may take before it is DEADLINE_EXCEEDED.
    #[arg(long, env = "TASK_RPC_TIMEOUT", value_name = "TASK_RPC_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub rpc_timeout: Duration,
}

impl Cli {
    /// Parses the command line and environment, or exits with one line.
    pub fn load() -> Self {
        todogenie_common::cli::parse_or_exit("task-service")
    }
}
