//! All SQL lives below this module. The pool, database creation and the
//! embedded migrations are here; one file per table group beside it.

pub mod list;
pub mod outbox;
pub mod reminders;
pub mod requests;
pub mod schedule;
pub mod tasks;

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the database if it is missing, opens a sized pool and applies
/// the migrations (sqlx holds an advisory lock, so replicas may race here).
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    ensure_database(url).await?;
    let options: PgConnectOptions = url
        .parse()
        .context("TASK_DATABASE_URL is not a valid PostgreSQL URL")?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(2)
        // Fail an RPC in seconds, not sqlx's default 30 s, when the pool is dry.
        .acquire_timeout(Duration::from_secs(3))
        // The default pings before every checkout: a round trip per query.
        // Broken connections surface as errors and are replaced instead.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .context("cannot connect to PostgreSQL")?;
    MIGRATOR
        .run(&pool)
        .await
        .context("cannot apply migrations")?;
    Ok(pool)
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
/// events/s through the relay).
pub async fn connect_worker_pool(
    url: &str,
    max_connections: u32,
    commit: Commit,
) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url
        .parse()
        .context("TASK_DATABASE_URL is not a valid PostgreSQL URL")?;
    let synchronous_commit = match commit {
        Commit::Durable => "on",
        Commit::Asynchronous => "off",
    };
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .test_before_acquire(false)
        .connect_with(options.options([
            ("synchronous_commit", synchronous_commit),
            ("enable_seqscan", "off"),
        ]))
        .await
        .context("cannot connect a worker to PostgreSQL")
}

pub use todogenie_common::db::{ensure_database, ping};
