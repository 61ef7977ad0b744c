//! All SQL lives below this module, one file per table; the pool and the
//! embedded migrations are here.

pub(crate) mod contacts;
pub(crate) mod events;
pub(crate) mod inbound;
pub(crate) mod notifications;
pub(crate) mod numbers;
pub(crate) mod retention;
pub(crate) mod senders;

use sqlx::PgPool;
use todogenie_common::db::PoolSpec;

pub(crate) use todogenie_common::db::ping;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the database if it is missing, opens a sized pool and applies the
/// migrations. The claim queries use partial indexes on tables that swing
/// from empty to 20,000 pending rows faster than autovacuum re-analyses
/// them; with an empty table's statistics the planner would scan, so the
/// pool runs with `enable_seqscan = off`. And without JIT: with sequential
/// scans priced out, a statement on a small table (the heartbeat's on
/// `senders`) looked costly enough to compile, and compiling took 160–330 ms
/// of every heartbeat.
pub(crate) async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let spec = PoolSpec {
        url,
        setting: "NOTIFIER_DATABASE_URL",
        max_connections,
        // Its statements are the few fixed ones in `store`.
        statement_cache: todogenie_common::db::STATEMENT_CACHE.into(),
        session: &[("enable_seqscan", "off"), ("jit", "off")],
    };
    todogenie_common::db::connect(&spec, &MIGRATOR).await
}
