//! The benchmark's database: recreated empty, then 1,000,000 tasks over
//! 10,000 owners written by PostgreSQL itself (generate_series), with the
//! words and tags the ListTasks forms search for, in creation order.

use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

/// Words that titles and descriptions are made of; queries pick from them.
pub const WORDS: [&str; 40] = [
    "invoice",
    "garden",
    "dentist",
    "report",
    "groceries",
    "laundry",
    "budget",
    "meeting",
    "flight",
    "passport",
    "birthday",
    "insurance",
    "plumber",
    "taxes",
    "library",
    "recipe",
    "painting",
    "bicycle",
    "vaccine",
    "mortgage",
    "concert",
    "backup",
    "server",
    "contract",
    "holiday",
    "kitchen",
    "garage",
    "piano",
    "marathon",
    "podcast",
    "window",
    "charger",
    "ticket",
    "wedding",
    "license",
    "battery",
    "compost",
    "uniform",
    "dinner",
    "parcel",
];

pub const TAGS: [&str; 12] = [
    "home", "work", "errand", "health", "finance", "family", "travel", "school", "car", "garden",
    "urgent", "someday",
];

pub fn owner_name(n: u64) -> String {
    format!("owner-{n}")
}

pub async fn recreate_database(server_url: &str, database: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "--database must be letters, digits and _"
    );
    let mut conn = PgConnection::connect(&format!("{server_url}/postgres"))
        .await
        .context("connect to PostgreSQL")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    Ok(())
}

pub async fn count(pool: &PgPool) -> anyhow::Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n)?)
}

/// Empties the tables the earlier steps wrote to.
pub async fn clear(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("TRUNCATE tasks, reminders, create_requests")
        .execute(pool)
        .await?;
    Ok(())
}

fn sql_array(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|w| format!("'{w}'")).collect();
    format!("ARRAY[{}]", quoted.join(","))
}

/// The service's database as the bench's own writes reach it: without the
/// service's RPC timeout (a 100,000-task seed batch took over 30 s at
/// 2,500,000 tasks with a build beside it, and the seed failed), and without
/// sqlx's slow-statement warning, which printed each large setup statement
/// whole (a seed batch, `--events`' 100,000 reminders) once the bench
/// installed the service's log subscriber.
fn bench_options(pool: &PgPool) -> PgConnectOptions {
    // The pool's options already carry `-c statement_timeout=<RPC timeout>`;
    // a later `-c` of the same setting wins in PostgreSQL's startup packet.
    (*pool.connect_options())
        .clone()
        .options([("statement_timeout", "0")])
        .disable_statement_logging()
}

/// A few connections of [`bench_options`]: the bench's setup writes.
pub async fn bench_pool(pool: &PgPool) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(4)
        .connect_with(bench_options(pool))
        .await
        .context("connect the bench's pool")
}

/// Writes `tasks` tasks in batches of 100,000 and analyses the table.
pub async fn seed(pool: &PgPool, tasks: u64, owners: u64) -> anyhow::Result<Duration> {
    seed_range(pool, 0, tasks, owners).await
}

/// Writes tasks number `from` to `to` (exclusive) as [`seed`] would have, so
/// that a seeded table grows with the same mix, and analyses the table.
pub async fn seed_range(
    pool: &PgPool,
    from: u64,
    to: u64,
    owners: u64,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let words = sql_array(&WORDS);
    let tags = sql_array(&TAGS);
    let (nw, nt) = (WORDS.len(), TAGS.len());
    // Task g is created 3.5 s after task g - 1, from a fixed day in the past
    // (1,000,000 tasks span 40.5 days; 10,000,000 end in February 2025), so
    // the table is in creation order as a service appends it, growth
    // included. The seed before gave task g the time now() - (g mod 500,000)
    // x 7 s: the newest tasks lay in two places of the table and the admin
    // walk read them alternately, a page each (README, "the bench's table is
    // laid out as no service writes it").
    let epoch = "'2024-01-01 00:00:00+00'::timestamptz";
    let sql = format!(
        "INSERT INTO tasks (id, owner, title, description, state, priority, tags, tags_folded, \
             due_time, time_zone, recurrence, reminders, series_id, create_time, update_time, \
             complete_time, version) \
         SELECT gen_random_uuid(), 'owner-' || (g % $3), \
             initcap(w[1 + g % {nw}]) || ' ' || w[1 + (g / 7) % {nw}] || ' #' || g, \
             'Remember the ' || w[1 + (g / 49) % {nw}] || ' and the ' || w[1 + (g / 343) % {nw}], \
             (ARRAY['pending','in_progress','completed','archived','cancelled'])[1 + (g / 3) % 5], \
             1 + (g / 11) % 3, \
             ARRAY[t[1 + g % {nt}], t[1 + (g / 13 + 1) % {nt}]], \
             ARRAY[t[1 + g % {nt}], t[1 + (g / 13 + 1) % {nt}]], \
             CASE WHEN g % 6 = 0 THEN NULL ELSE now() + (g % 2000) * interval '37 minutes' END, \
             'UTC', '', '[]', NULL, \
             {epoch} + g * interval '3.5 seconds', {epoch} + g * interval '3.5 seconds', \
             NULL, 1 \
         FROM generate_series($1::bigint, $2::bigint) AS g, \
              (SELECT {words} AS w, {tags} AS t) AS vocabulary"
    );
    // A connection of its own (see `bench_options`); VACUUM needs one too:
    // it cannot run in a transaction.
    let mut conn = bench_options(pool)
        .connect()
        .await
        .context("connect to seed")?;
    let batch = 100_000;
    let mut start = from;
    while start < to {
        let end = (start + batch).min(to) - 1;
        sqlx::query(&sql)
            .bind(i64::try_from(start)?)
            .bind(i64::try_from(end)?)
            .bind(i64::try_from(owners)?)
            .execute(&mut conn)
            .await
            .context("seed batch")?;
        start = end + 1;
        eprint!("\r# seeding {start}/{to}");
    }
    eprintln!();
    sqlx::query("VACUUM ANALYZE tasks")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(started.elapsed())
}
