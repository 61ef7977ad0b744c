//! All SQL lives below this module. The pool, database creation and the
//! embedded migrations are here; one file per table group beside it.

pub mod create;
pub mod list;
pub mod outbox;
pub mod reminders;
pub mod requests;
pub mod schedule;
pub mod tasks;

use sqlx::PgPool;
use todogenie_common::db::PoolSpec;

pub use todogenie_common::db::ping;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The setting the database URL comes from, for errors.
const URL_SETTING: &str = "TASK_DATABASE_URL";

/// Creates the database if it is missing, opens the API's pool and applies
/// the migrations. Its statements time out with the RPC that runs them
/// (`statement_timeout`): a call cut off by its deadline leaves nothing
/// running in PostgreSQL.
pub async fn connect(
    url: &str,
    max_connections: u32,
    statement_cache: usize,
    rpc_timeout: std::time::Duration,
) -> anyhow::Result<PgPool> {
    let timeout = rpc_timeout.as_millis().max(1).to_string();
    let spec = PoolSpec {
        url,
        setting: URL_SETTING,
        max_connections,
        statement_cache,
        session: &[("statement_timeout", &timeout)],
    };
    todogenie_common::db::connect(&spec, &MIGRATOR).await
}

/// How a background worker's connections commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Wait for the WAL flush: what the transaction writes must survive.
    Durable,
    /// Don't wait: for the outbox relay's bookkeeping (claims, deletes), where
    /// losing the last commits in a crash can only make a row be published
    /// again, which consumers deduplicate by event id. The events themselves
    /// are written durably, by the transactions that make them.
    Asynchronous,
}

/// A small pool for a background worker (relay, scheduler). Its queries all
/// have indexes, and it runs them with `enable_seqscan = off`: the outbox and
/// the reminders swing from empty to a large backlog faster than autovacuum
/// re-analyses them, and with an empty table's statistics the planner deletes
/// 1,000 ids by scanning 200,000 rows (measured: 6,000 instead of 24,000
/// events/s through the relay). JIT is off: with sequential scans priced
/// out, every plan looks costly enough to compile, and compiling the
/// relay's claim took 330 ms of a statement that runs in 3.
pub async fn connect_worker_pool(
    url: &str,
    max_connections: u32,
    commit: Commit,
) -> anyhow::Result<PgPool> {
    let synchronous_commit = match commit {
        Commit::Durable => "on",
        Commit::Asynchronous => "off",
    };
    let spec = PoolSpec {
        url,
        setting: URL_SETTING,
        max_connections,
        statement_cache: todogenie_common::db::STATEMENT_CACHE.into(),
        session: &[
            ("synchronous_commit", synchronous_commit),
            ("enable_seqscan", "off"),
            ("jit", "off"),
        ],
    };
    spec.open(0).await
}
