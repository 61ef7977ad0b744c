//! The baseline: pgbench running the statement CreateTask sends.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;

/// `store::tasks::insert_new`'s statement, without a request id, with one
/// fire time and its event (a 620-byte payload, as CreateTask's are): what
/// CreateTask sends for a task with a due time. The service's relay, running
/// meanwhile, publishes these events as it does CreateTask's.
const SCRIPT: &str = r"\set n random(1, 1000000000)
WITH claim AS (INSERT INTO create_requests (owner, request_id, request_hash, task_id, create_time) SELECT 'pgbench-' || :client_id, NULL, NULL, gen_random_uuid(), now() WHERE NULL::text IS NOT NULL ON CONFLICT (owner, request_id) DO UPDATE SET request_hash = EXCLUDED.request_hash, task_id = EXCLUDED.task_id, create_time = EXCLUDED.create_time WHERE create_requests.create_time < EXCLUDED.create_time - make_interval(hours => 24) RETURNING 1), task AS (INSERT INTO tasks (id, owner, title, description, state, priority, tags, tags_folded, due_time, time_zone, recurrence, reminders, series_id, create_time, update_time, complete_time, version) SELECT gen_random_uuid(), 'pgbench-' || :client_id, 'Bench task ' || :n, '', 'pending', 2, '{bench}', '{bench}', now() + interval '1 day', 'UTC', '', '[]', NULL, now(), now(), NULL, 1 WHERE NULL::text IS NULL OR EXISTS (SELECT FROM claim) RETURNING id), fire AS (INSERT INTO reminders (task_id, fire_time, source) SELECT task.id, t, 'rule' FROM task, unnest(ARRAY[now() + interval '1 day']) AS t), event AS (INSERT INTO outbox (event_id, routing_key, payload, traceparent) SELECT gen_random_uuid(), 'task.created', convert_to(repeat('x', 620), 'UTF8'), '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' FROM task) SELECT EXISTS (SELECT FROM task);
";

/// Transactions per second pgbench reaches with `clients` for `seconds`.
pub async fn create_task_tps(
    database_url: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<f64> {
    let stdout = run(database_url, clients, seconds, &[]).await?;
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .with_context(|| format!("no tps in pgbench output: {stdout}"))
}

/// pgbench at `rate` transactions per second (`-R`: an open loop, each
/// latency counted from the transaction's scheduled start, as `--paced`
/// counts ours), for `seconds`: every transaction's latency with its
/// scheduled start, from pgbench's per-transaction log.
pub async fn create_task_paced(
    database_url: &str,
    clients: usize,
    seconds: u64,
    rate: f64,
) -> anyhow::Result<Vec<(Duration, Duration)>> {
    let dir = std::env::temp_dir().join(format!("task-bench-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let prefix = dir.join("pgbench");
    let rate = format!("{rate:.0}");
    let prefix_arg = format!("--log-prefix={}", prefix.display());
    let outcome = run(
        database_url,
        clients,
        seconds,
        &["-R", &rate, "-l", &prefix_arg],
    )
    .await;
    let read = outcome.and_then(|_| read_log(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    read
}

/// Runs pgbench with CreateTask's script and `extra` options; its stdout.
async fn run(
    database_url: &str,
    clients: usize,
    seconds: u64,
    extra: &[&str],
) -> anyhow::Result<String> {
    let options: PgConnectOptions = database_url.parse()?;
    let script = std::env::temp_dir().join(format!("task-bench-{}.sql", std::process::id()));
    std::fs::write(&script, SCRIPT)?;
    let output = tokio::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args(["-c", &clients.to_string(), "-T", &seconds.to_string()])
        .args([
            "-h",
            options.get_host(),
            "-p",
            &options.get_port().to_string(),
        ])
        .args(["-U", options.get_username()])
        .args(extra)
        .arg("-f")
        .arg(&script)
        .arg(options.get_database().unwrap_or("postgres"))
        .output()
        .await
        .context("run pgbench (apt-get install postgresql-client)")?;
    let _ = std::fs::remove_file(&script);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(stdout)
}

/// (scheduled start since the first one, latency) of every transaction in
/// the per-transaction logs in `dir` (one file per pgbench thread). A line
/// is `client transaction latency_us script end_epoch_s end_us lag_us`;
/// under `-R` the latency already counts from the scheduled start.
fn read_log(dir: &std::path::Path) -> anyhow::Result<Vec<(Duration, Duration)>> {
    let mut ends_and_latencies = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        for line in text.lines() {
            let fields: Vec<u64> = line
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .with_context(|| format!("a pgbench log line: {line}"))?;
            let [_, _, latency, _, epoch_s, epoch_us, ..] = fields[..] else {
                anyhow::bail!("a pgbench log line with too few fields: {line}");
            };
            let end = Duration::from_secs(epoch_s) + Duration::from_micros(epoch_us);
            ends_and_latencies.push((end, Duration::from_micros(latency)));
        }
    }
    let first = ends_and_latencies
        .iter()
        .map(|(end, latency)| end.saturating_sub(*latency))
        .min()
        .context("pgbench logged no transaction")?;
    Ok(ends_and_latencies
        .into_iter()
        .map(|(end, latency)| (end.saturating_sub(latency).saturating_sub(first), latency))
        .collect())
}
