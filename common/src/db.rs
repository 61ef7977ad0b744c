//! What every service does with its own PostgreSQL database: create it when
//! it is missing, open a sized pool, apply the migrations, and tell
//! `/readyz` whether it answers.

use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, PgExecutor, PgPool, Postgres};

/// How long a connection may take to open (the pool's checkout, too).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Prepared statements a connection keeps by default (sqlx's own). Measured
/// at 1,000,000 tasks (README, third session of 2026-12-04): a ListTasks
/// statement with its plan holds about 135 KiB of its PostgreSQL backend,
/// and with 60 listing shapes in use 100 served 1.6 times the pages of 32;
/// with 1,440 shapes the cache gained nothing and cost 552 MiB per replica.
pub const STATEMENT_CACHE: u16 = 100;

/// How to open a service's pool.
pub struct PoolSpec<'a> {
    pub url: &'a str,
    /// The setting the URL came from, for errors: `TASK_DATABASE_URL`.
    pub setting: &'a str,
    pub max_connections: u32,
    /// Prepared statements each connection keeps (see [`STATEMENT_CACHE`]).
    pub statement_cache: usize,
    /// Session settings every connection starts with.
    pub session: &'a [(&'a str, &'a str)],
}

impl PoolSpec<'_> {
    /// The URL's options, without the session settings.
    fn url_options(&self) -> anyhow::Result<PgConnectOptions> {
        self.url
            .parse()
            .with_context(|| format!("{} is not a valid PostgreSQL URL", self.setting))
    }

    fn options(&self) -> anyhow::Result<PgConnectOptions> {
        Ok(self
            .url_options()?
            .options(self.session.iter().copied())
            .statement_cache_capacity(self.statement_cache))
    }

    /// A pool that fails in seconds, not sqlx's default 30 s, when it is dry,
    /// and does not ping before every checkout (a round trip per query):
    /// broken connections surface as errors and are replaced.
    pub async fn open(&self, min_connections: u32) -> anyhow::Result<PgPool> {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .min_connections(min_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(self.options()?)
            .await
            .context("cannot connect to PostgreSQL")
    }
}

/// Creates the database if it is missing, applies `migrator` on a connection
/// of its own (sqlx holds an advisory lock, so replicas may race), warns of
/// invalid indexes and of autovacuum turned off, then opens the service's
/// pool.
pub async fn connect(spec: &PoolSpec<'_>, migrator: &Migrator) -> anyhow::Result<PgPool> {
    ensure_database(spec.url).await?;
    // On a connection of its own, without the pool's session settings: the
    // API pool's statement_timeout is the RPC timeout (10 s), and building an
    // index on 10,000,000 tasks takes longer. Under it the build was
    // cancelled and left an invalid index, which the migration's `IF NOT
    // EXISTS` accepted on the next start (task-bench, 2026-12-03).
    let options = spec.url_options()?;
    let connecting = PgConnection::connect_with(&options);
    let mut connection = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| anyhow::anyhow!("PostgreSQL did not answer within {CONNECT_TIMEOUT:?}"))?
        .context("cannot connect to PostgreSQL")?;
    migrator
        .run(&mut connection)
        .await
        .context("cannot apply migrations")?;
    for index in invalid_indexes(&mut connection).await? {
        tracing::warn!(
            %index,
            "index is invalid (a CREATE INDEX CONCURRENTLY was interrupted) and no query uses it; \
             rebuild it with REINDEX INDEX CONCURRENTLY"
        );
    }
    // Measured with it off (this machine's PostgreSQL, 2026-12-05): one run
    // of task-bench --events left the outbox at 482 MB for 3,000 live rows,
    // and a relay's claim of 1,000 took 8.1-11.1 ms behind 500,000 deleted
    // rows against 5.8-6.7 ms once they were vacuumed (pgbench, one
    // client), its index scan stepping over the dead entries first.
    if autovacuum_off(&mut connection).await? {
        tracing::warn!(
            "PostgreSQL runs with autovacuum off: the outbox and the queue tables keep every \
             row they delete, and their claims slow down as those pile up; turn autovacuum on \
             or VACUUM them on a schedule"
        );
    }
    connection.close().await.ok();
    spec.open(2).await
}

/// Whether the server's autovacuum is off (a server-wide setting; a table
/// cannot turn it back on for itself).
async fn autovacuum_off(db: impl PgExecutor<'_>) -> anyhow::Result<bool> {
    let setting: String = sqlx::query_scalar("SELECT current_setting('autovacuum')")
        .fetch_one(db)
        .await
        .context("cannot read the autovacuum setting")?;
    Ok(setting == "off")
}

/// Indexes PostgreSQL keeps but does not use: left by a `CREATE INDEX
/// CONCURRENTLY` that was interrupted (a replica killed while migrating, a
/// cancelled statement).
/// Such a migration is run again on the next start, and its `IF NOT EXISTS`
/// then accepts the invalid index: the queries that needed it scan instead,
/// with nothing else to tell.
pub async fn invalid_indexes(db: impl PgExecutor<'_>) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE NOT i.indisvalid AND c.relnamespace = current_schema()::regnamespace \
         ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .context("cannot list invalid indexes")
}

/// Creates the database named in `url` unless it exists; replicas may race.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    if Postgres::database_exists(url)
        .await
        .context("cannot reach PostgreSQL to check the database")?
    {
        return Ok(());
    }
    match Postgres::create_database(url).await {
        Ok(()) => Ok(()),
        // Another replica created it between our check and our CREATE.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(()),
        Err(e) => Err(e).context("cannot create the database"),
    }
}

/// `/readyz`: can we run a query now?
pub async fn ping(pool: &PgPool) -> bool {
    let check = sqlx::query("SELECT 1").execute(pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(1), check).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `postgres` database of the test server: prepared statements
    /// belong to a session, so nothing here touches a table.
    fn url() -> String {
        let base = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        format!("{base}/postgres")
    }

    #[tokio::test]
    async fn a_connection_keeps_at_most_its_statement_cache() {
        let url = url();
        for (cache, kept) in [(1, 1), (2, 2), (100, 5)] {
            let spec = PoolSpec {
                url: &url,
                setting: "TEST_POSTGRES_URL",
                max_connections: 1,
                statement_cache: cache,
                session: &[],
            };
            let pool = spec
                .open(0)
                .await
                .expect("PostgreSQL must run on 127.0.0.1:5432");
            let mut connection = pool.acquire().await.unwrap();
            for k in 0..5 {
                let sum: i32 = sqlx::query_scalar(&format!("SELECT {k} + $1::int4"))
                    .bind(1)
                    .fetch_one(&mut *connection)
                    .await
                    .unwrap();
                assert_eq!(sum, k + 1);
            }
            let held: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_prepared_statements")
                .persistent(false)
                .fetch_one(&mut *connection)
                .await
                .unwrap();
            assert_eq!(held, kept, "statements kept with a cache of {cache}");
        }
    }
}
