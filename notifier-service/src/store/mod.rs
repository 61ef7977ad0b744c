//! All SQL lives below this module, one file per table; the pool and the
//! embedded migrations are here.

pub mod contacts;
pub mod events;
pub mod inbound;
pub mod notifications;

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub use todogenie_common::db::ping;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the database if it is missing, opens a sized pool and applies the
/// migrations (sqlx holds an advisory lock, so replicas may race here).
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    todogenie_common::db::ensure_database(url).await?;
    let options: PgConnectOptions = url
        .parse()
        .context("NOTIFIER_DATABASE_URL is not a valid PostgreSQL URL")?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(2)
        // Fail in seconds, not sqlx's default 30 s, when the pool is dry.
        .acquire_timeout(Duration::from_secs(3))
        // Broken connections surface as errors and are replaced; a ping
        // before every checkout would add a round trip to each query.
        .test_before_acquire(false)
        // The claim queries use partial indexes on tables that swing from
        // empty to 20,000 pending rows faster than autovacuum re-analyses
        // them; with an empty table's statistics the planner would scan.
        .connect_with(options.options([("enable_seqscan", "off")]))
        .await
        .context("cannot connect to PostgreSQL")?;
    MIGRATOR
        .run(&pool)
        .await
        .context("cannot apply migrations")?;
    Ok(pool)
}
