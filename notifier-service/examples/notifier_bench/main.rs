//! `notifier-bench`: the delivery benchmark. Starts the Cloud API stand-in
//! (allowing `--max-mps` messages per second), the release notifier-service
//! binary as a child process against a fresh database and its own queue,
//! gives 20,000 users a contact, then publishes one `task.due` per user, all
//! due at the same moment (or spread over `--spread-secs`), as task-service
//! would at their fire time. It prints the sustained send rate, the lag from
//! due time to provider request (and the part of it the rate limit does not
//! explain), the most messages in any one second, 130429s, and the
//! notifier's peak RSS. With `--replicas 2` two notifiers share the
//! database, the queue and the account's limit.
//!
//!   cargo build --release -p notifier-service
//!   cargo run --release -p notifier-service --example notifier-bench

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Parser;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sqlx::{Connection as _, PgConnection};
use todogenie_common::events::{rfc3339, CloudEvent, EventKind, TaskJson, CONTENT_TYPE};
use todogenie_standin::{CloudApi, StandinConfig};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    /// Messages per second the stand-in allows and the notifier is set to.
    #[arg(long, default_value_t = 1000)]
    max_mps: u32,
    /// Spread the due times over this many seconds (0: all at once).
    #[arg(long, default_value_t = 0)]
    spread_secs: u64,
    /// Don't send `sent`/`delivered` status webhooks back.
    #[arg(long)]
    no_status_webhooks: bool,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    #[arg(long, default_value = "target/release/notifier-service")]
    binary: String,
    /// Notifier processes sharing the database, queue and limit.
    #[arg(long, default_value_t = 1)]
    replicas: u16,
}

const SECRET: &str = "bench-secret-of-more-than-16-bytes";

fn digits(user: usize) -> String {
    format!("1415{:07}", 2_000_000 + user)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let db = format!("tg_nbench_{run}");
    let exchange = format!("bench.{run}");
    let standin = CloudApi::start(StandinConfig {
        max_mps: args.max_mps as usize,
        status_webhooks: !args.no_status_webhooks,
        ..StandinConfig::default()
    })
    .await?;
    let config = standin.config.clone();
    let mut children = Vec::new();
    for replica in 0..args.replicas {
        let http_addr = format!("127.0.0.1:{}", 18080 + replica);
        let child = tokio::process::Command::new(&args.binary)
            .env("NOTIFIER_DATABASE_URL", format!("{}/{db}", args.postgres))
            .env(
                "NOTIFIER_GRPC_ADDR",
                format!("127.0.0.1:{}", 15052 + replica),
            )
            .env("NOTIFIER_HTTP_ADDR", &http_addr)
            .env("AMQP_URL", &args.amqp_url)
            .env("AMQP_EXCHANGE", &exchange)
            .env("AMQP_QUEUE", format!("{exchange}.notifier"))
            .env("JWT_SECRET", SECRET)
            .env("WHATSAPP_PROVIDER", "meta")
            .env("WHATSAPP_API_BASE", standin.base_url())
            .env("WHATSAPP_PHONE_NUMBER_ID", &config.phone_number_id)
            .env("WHATSAPP_ACCESS_TOKEN", &config.access_token)
            .env("WHATSAPP_APP_SECRET", &config.app_secret)
            .env("WHATSAPP_MAX_MPS", args.max_mps.to_string())
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (build it with --release first)",
                    args.binary
                )
            })?;
        // The first creates and migrates the database; the others join it.
        wait_ready(&http_addr).await?;
        children.push(child);
    }
    let pids: Vec<u32> = children
        .iter()
        .filter_map(tokio::process::Child::id)
        .collect();
    // Status webhooks go to the first; any replica takes them.
    standin
        .webhooks
        .point_at("http://127.0.0.1:18080/webhooks/whatsapp".to_owned());

    // Contacts straight into the notifier's tables: 20,000 users, opted in,
    // their numbers confirmed.
    let mut conn = PgConnection::connect(&format!("{}/{db}", args.postgres)).await?;
    sqlx::query(
        "INSERT INTO contacts (user_id, phone_number, time_zone, locale, whatsapp_opt_in) \
         SELECT 'user' || n, '+1415' || lpad((2000000 + n)::text, 7, '0'), 'Europe/Berlin', 'en', true \
         FROM generate_series(0, $1 - 1) AS n",
    )
    .bind(i32::try_from(args.users)?)
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "INSERT INTO confirmations (phone_number, user_id) SELECT phone_number, user_id FROM contacts",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query("ANALYZE contacts").execute(&mut conn).await?;
    sqlx::query("ANALYZE confirmations")
        .execute(&mut conn)
        .await?;

    let due_start = Utc::now() + chrono::Duration::seconds(3);
    let due_of = |user: usize| {
        let offset = if args.users > 1 {
            args.spread_secs as f64 * user as f64 / (args.users - 1) as f64
        } else {
            0.0
        };
        due_start + chrono::Duration::microseconds((offset * 1e6) as i64)
    };
    println!(
        "notifier-bench: {} users, {} replica(s), WHATSAPP_MAX_MPS={}, due over {} s, status webhooks {}",
        args.users,
        args.replicas,
        args.max_mps,
        args.spread_secs,
        if args.no_status_webhooks { "off" } else { "on" }
    );
    publish_at_due_times(&args.amqp_url, &exchange, args.users, &due_of).await?;

    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(120 + args.users as u64 / u64::from(args.max_mps));
    while standin.sent_count() < args.users {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "only {} of {} sent",
            standin.sent_count(),
            args.users
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    report(&standin, &args, &due_of);
    for replica in 0..args.replicas {
        print_limiter_metrics(&format!("127.0.0.1:{}", 18080 + replica)).await;
    }
    for pid in pids {
        println!(
            "  peak RSS of notifier-service (pid {pid}): {:.1} MiB",
            peak_rss_kib(pid) as f64 / 1024.0
        );
    }
    for mut child in children {
        let _ = child.kill().await;
    }
    // The run's queue (and its dead letters) and exchanges go with it.
    let topology = todogenie_common::amqp::Topology::new(&exchange, format!("{exchange}.notifier"));
    todogenie_test_kit::delete_topology(&args.amqp_url, &topology).await;
    let mut admin = PgConnection::connect(&format!("{}/postgres", args.postgres)).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    Ok(())
}

async fn wait_ready(http_addr: &str) -> anyhow::Result<()> {
    let url = format!("http://{http_addr}/readyz");
    for _ in 0..200 {
        if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("notifier-service did not become ready")
}

/// Publishes each user's `task.due` at its due time, with confirms.
async fn publish_at_due_times(
    url: &str,
    exchange: &str,
    users: usize,
    due_of: &dyn Fn(usize) -> DateTime<Utc>,
) -> anyhow::Result<()> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut confirms = Vec::with_capacity(users);
    for user in 0..users {
        let due = due_of(user);
        if let Ok(wait) = (due - Utc::now()).to_std() {
            tokio::time::sleep(wait).await;
        }
        let id = uuid::Uuid::now_v7();
        let at = rfc3339(due);
        let task = TaskJson {
            id: uuid::Uuid::now_v7().to_string(),
            owner: format!("user{user}"),
            title: format!("Task of user {user}"),
            state: "TASK_STATE_PENDING".into(),
            due_time: Some(at.clone()),
            update_time: at,
            etag: "1".into(),
            ..TaskJson::default()
        };
        let body = CloudEvent::new(id, EventKind::Due, task, due, Some(due)).to_json();
        let properties = BasicProperties::default()
            .with_content_type(CONTENT_TYPE.into())
            .with_message_id(id.to_string().into())
            .with_delivery_mode(2);
        confirms.push(
            channel
                .basic_publish(
                    exchange.into(),
                    EventKind::Due.routing_key().as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await?,
        );
    }
    for confirm in confirms {
        confirm.await?;
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(())
}

/// What the replica's limiter says of its slots: time that passed with no
/// send waiting, slots given up because the last second was already full,
/// hold-backs after a 130429.
async fn print_limiter_metrics(http_addr: &str) {
    let text = match reqwest::get(format!("http://{http_addr}/metrics")).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(e) => {
            println!("  cannot read {http_addr}/metrics: {e}");
            return;
        }
    };
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    println!(
        "  limiter of {http_addr}: unused slot time {:.3} s in {} gaps, slots given up (second full) {}, hold-backs {}",
        value("send_slots_unused_seconds_sum"),
        value("send_slots_unused_seconds_count"),
        value("send_slots_retaken_total"),
        value("send_hold_backs_total")
    );
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(standin: &CloudApi, args: &Args, due_of: &dyn Fn(usize) -> DateTime<Utc>) {
    let mut sent = standin.sent();
    sent.sort_by_key(|s| s.time);
    let first = sent.first().expect("messages were sent").time;
    let last = sent.last().expect("messages were sent").time;
    let span = (last - first).as_seconds_f64();
    let rate = (sent.len() - 1) as f64 / span;
    let by_digits: std::collections::HashMap<String, usize> =
        (0..args.users).map(|u| (digits(u), u)).collect();
    let mut lags = Vec::new();
    let mut beyond = Vec::new();
    let interval = 1.0 / f64::from(args.max_mps);
    let earliest_due = due_of(0);
    for (rank, message) in sent.iter().enumerate() {
        let Some(&user) = by_digits.get(&message.to) else {
            continue;
        };
        let lag = (message.time - due_of(user)).as_seconds_f64();
        lags.push(lag);
        // The soonest the limit allows the rank-th message after the first due time.
        let forced = (earliest_due
            + chrono::Duration::microseconds((rank as f64 * interval * 1e6) as i64)
            - due_of(user))
        .as_seconds_f64()
        .max(0.0);
        beyond.push(lag - forced);
    }
    lags.sort_by(f64::total_cmp);
    beyond.sort_by(f64::total_cmp);
    println!(
        "  messages sent: {} in {:.2} s → sustained {:.0} messages/s",
        sent.len(),
        span,
        rate
    );
    println!(
        "  lag due → provider request: p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        percentile(&lags, 1.0)
    );
    println!(
        "  lag beyond what {} mps forces: p50 {:.3} s, p99 {:.3} s",
        args.max_mps,
        percentile(&beyond, 0.5),
        percentile(&beyond, 0.99)
    );
    // Where sending paused: gaps between consecutive requests of more
    // than five slots, and what they add up to (time the limit would have
    // let the notifier send in).
    let mut pauses: Vec<(f64, f64)> = sent
        .windows(2)
        .map(|w| {
            (
                (w[1].time - w[0].time).as_seconds_f64(),
                (w[0].time - first).as_seconds_f64(),
            )
        })
        .filter(|(gap, _)| *gap > 5.0 * interval)
        .collect();
    let paused: f64 = pauses.iter().map(|(gap, _)| gap - interval).sum();
    pauses.sort_by(|a, b| b.0.total_cmp(&a.0));
    let longest: Vec<String> = pauses
        .iter()
        .take(5)
        .map(|(gap, at)| format!("{:.0} ms at {at:.2} s", gap * 1e3))
        .collect();
    println!(
        "  first request {:.3} s after the first due time; {} pauses over 5 slots, {:.3} s in all; longest: {}",
        (first - earliest_due).as_seconds_f64(),
        pauses.len(),
        paused,
        longest.join(", ")
    );
    println!(
        "  busiest second: {} messages (limit {})",
        standin.busiest_second(),
        args.max_mps
    );
    println!(
        "  refusals: 130429 ×{}, 131056 ×{}",
        standin.refused(130_429),
        standin.refused(131_056)
    );
}
