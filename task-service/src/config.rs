//! Settings: every one an environment variable and a flag of the same meaning
//! (README, "Configuration"). A malformed value stops the process with one line naming both.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use clap::Args;

use todogenie_common::cli::parse_duration;
use todogenie_common::settings::SharedSettings;

/// The command line: the settings below, or `token`.
pub type Cli = todogenie_common::cli::Cli<Settings>;

/// Parses the command line and environment, or exits with one line.
pub fn load() -> Cli {
    Cli::load(
        "task-service",
        env!("CARGO_PKG_VERSION"),
        "TodoGenie task-service: tasks over gRPC",
    )
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

    /// Prepared statements each connection of the pool keeps, with their
    /// plans, the least recently used dropped first. Not 0: sqlx 0.8 then
    /// still prepares every statement under a name and never closes it.
    #[arg(
        long,
        env = "TASK_DATABASE_STATEMENT_CACHE",
        value_name = "TASK_DATABASE_STATEMENT_CACHE",
        default_value_t = todogenie_common::db::STATEMENT_CACHE,
        value_parser = clap::value_parser!(u16).range(1..=1000)
    )]
    pub database_statement_cache: u16,

    /// Longest time one RPC may take before it is DEADLINE_EXCEEDED.
    #[arg(long, env = "TASK_RPC_TIMEOUT", value_name = "TASK_RPC_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub rpc_timeout: Duration,

    /// Per-caller limits.
    #[command(flatten)]
    pub limits: LimitSettings,

    /// What both services read: broker, topology, JWT secret, logs.
    #[command(flatten)]
    pub shared: SharedSettings,
}

/// Per-caller limits (CONTRACT §3, "Limits per caller"); `admin` and
/// `service` callers are exempt from the rate and the quota.
#[derive(Debug, Clone, Copy, Args)]
pub struct LimitSettings {
    /// Changing RPCs (Create, Update, Delete, Complete, Snooze) per second per caller.
    #[arg(
        long,
        env = "TASK_USER_RATE",
        value_name = "TASK_USER_RATE",
        default_value = "100"
    )]
    pub user_rate: NonZeroU32,

    /// Changing RPCs a caller may make at once before the rate applies.
    #[arg(
        long,
        env = "TASK_USER_BURST",
        value_name = "TASK_USER_BURST",
        default_value = "1000"
    )]
    pub user_burst: NonZeroU32,

    /// Tasks per owner in any state but ARCHIVED.
    #[arg(
        long,
        env = "TASK_MAX_TASKS_PER_OWNER",
        value_name = "TASK_MAX_TASKS_PER_OWNER",
        default_value_t = 100_000
    )]
    pub max_tasks_per_owner: u64,

    /// Open WatchTasks streams per caller.
    #[arg(
        long,
        env = "TASK_MAX_WATCHERS_PER_CALLER",
        value_name = "TASK_MAX_WATCHERS_PER_CALLER",
        default_value_t = 4
    )]
    pub max_watchers_per_caller: usize,

    /// Open WatchTasks streams in all.
    #[arg(
        long,
        env = "TASK_MAX_WATCHERS",
        value_name = "TASK_MAX_WATCHERS",
        default_value_t = 10_000
    )]
    pub max_watchers: usize,

    /// Tasks one ListTasks page across every owner may read to find the
    /// page's matches; a page that reaches it ends short, and its token
    /// continues after the last task read.
    #[arg(
        long,
        env = "TASK_LIST_SCAN_ROWS",
        value_name = "TASK_LIST_SCAN_ROWS",
        default_value = "10000"
    )]
    pub list_scan_rows: NonZeroU32,
}

impl Default for LimitSettings {
    /// The contract's defaults.
    fn default() -> Self {
        Self {
            user_rate: NonZeroU32::new(100).expect("not zero"),
            user_burst: NonZeroU32::new(1000).expect("not zero"),
            max_tasks_per_owner: 100_000,
            max_watchers_per_caller: 4,
            max_watchers: 10_000,
            list_scan_rows: NonZeroU32::new(10_000).expect("not zero"),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Settings;

    #[derive(Parser)]
    struct Line {
        #[command(flatten)]
        settings: Settings,
    }

    fn statement_cache(value: Option<&str>) -> Result<u16, String> {
        let mut line = vec![
            "task-service".to_owned(),
            "--jwt-secret=0123456789abcdef0123456789abcdef".to_owned(),
        ];
        if let Some(value) = value {
            line.push(format!("--database-statement-cache={value}"));
        }
        Line::try_parse_from(line)
            .map(|l| l.settings.database_statement_cache)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_statement_cache_is_bounded_and_never_zero() {
        assert_eq!(statement_cache(None), Ok(100));
        assert_eq!(statement_cache(Some("1")), Ok(1));
        assert_eq!(statement_cache(Some("1000")), Ok(1000));
        for bad in ["0", "1001", "-1", "many"] {
            let error = statement_cache(Some(bad)).unwrap_err();
            assert!(
                error.contains("TASK_DATABASE_STATEMENT_CACHE"),
                "{bad}: {error}"
            );
        }
    }
}
