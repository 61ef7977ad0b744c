//! `task-bench --events`: reminders and the outbox relay under load.
//!
//! (a) a steady rate of reminders (1,000/s for 60 s): lag from each fire time
//!     to its `task.due` message reaching a consumer (an upper bound of the
//!     lag to publish-confirmed);
//! (b) a burst (100,000 reminders due in the same second): time until the
//!     last one is delivered, against (b') a bare lapin publisher sending
//!     the same number of `task.due` messages the same way to the same
//!     queues, until the consumer has the last;
//! (c) the relay draining N outbox rows against a bare lapin publisher with
//!     confirms (same broker, exchange, payloads, connections and batches),
//!     in rounds that alternate which goes first; the median ratio counts
//!     (`relay_vs_bare`).

mod relay_vs_bare;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use sqlx::PgPool;
use todogenie_common::amqp::{bind_private_queue, Topology};

use relay_vs_bare::bare_publish;

pub struct EventArgs {
    pub amqp_url: String,
    pub exchange: String,
    pub steady_rate: u64,
    pub steady_seconds: u64,
    pub burst: u64,
    pub relay_events: u64,
    /// Rounds of (c), alternating which of the two goes first.
    pub relay_rounds: u32,
}

/// Fire times (and due deliveries) seen by the bench's consumer.
type Deliveries = Arc<Mutex<Vec<(DateTime<Utc>, DateTime<Utc>)>>>;

pub async fn run(pool: &PgPool, args: &EventArgs) -> anyhow::Result<()> {
    // Where the notifier's queue would be: every event is routed and stored.
    let sink = bind_sink(&args.amqp_url, &bench_topology(&args.exchange)).await?;
    let deliveries = consume_due(&args.amqp_url, &args.exchange).await?;
    wait_for_relay(pool).await?;

    // (a)
    let n = args.steady_rate * args.steady_seconds;
    let start = seed_reminders(pool, n, args.steady_rate).await?;
    let lags = collect(
        &deliveries,
        n,
        start + chrono::Duration::seconds(args.steady_seconds as i64 + 60),
    )
    .await?;
    let ms = |d: f64| d * 1000.0;
    println!(
        "steady {}/s for {} s       reminders={:<7} lag p50={:>7.1} ms  p99={:>7.1} ms  max={:>7.1} ms",
        args.steady_rate,
        args.steady_seconds,
        lags.len(),
        ms(percentile(&lags, 50.0)),
        ms(percentile(&lags, 99.0)),
        ms(lags.last().copied().unwrap_or(0.0)),
    );

    // (b)
    sink.purge().await?;
    deliveries.lock().expect("not poisoned").clear();
    let due = seed_reminders(pool, args.burst, 0).await?;
    let burst_seconds = all_delivered(&deliveries, args.burst, due).await?;
    println!(
        "burst {} due at once        all delivered {:.2} s after their fire time",
        args.burst, burst_seconds
    );

    // (b') The same burst from a bare publisher: the same `task.due`
    // messages through the same exchange to the same two queues (the sink
    // and this consumer's), timed until the consumer has them all.
    sink.purge().await?;
    deliveries.lock().expect("not poisoned").clear();
    let due_payload = sample_payload(pool, true).await?;
    let started = Utc::now();
    bare_publish(
        &args.amqp_url,
        &args.exchange,
        "task.due",
        args.burst,
        &due_payload,
    )
    .await?;
    let bare_seconds = all_delivered(&deliveries, args.burst, started).await?;
    println!(
        "bare burst {} task.due      all delivered {:.2} s after the first publish   burst/bare = {:.2}",
        args.burst,
        bare_seconds,
        burst_seconds / bare_seconds
    );

    // (c)
    let bare_rates = relay_vs_bare::rounds(pool, args, &sink).await?;
    let bare_rate = percentile(&bare_rates, 50.0);
    println!(
        "burst against (c)'s median bare rate: {:.2} s for {} = {:.2} x",
        args.burst as f64 / bare_rate,
        args.burst,
        burst_seconds / (args.burst as f64 / bare_rate)
    );
    Ok(())
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

async fn connect(url: &str) -> anyhow::Result<(Connection, lapin::Channel)> {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .context("connect to RabbitMQ")?;
    let channel = connection.create_channel().await?;
    Ok((connection, channel))
}

/// The bench's event topology: the notifier's queue on it is the sink.
pub fn bench_topology(exchange: &str) -> Topology {
    Topology::new(exchange, format!("{exchange}.notifier"))
}

/// The notifier's queue, where every event is routed and stored as in
/// production (not consumed: a consumer is another service's CPU).
pub struct Sink {
    _connection: Connection,
    channel: lapin::Channel,
    queue: lapin::types::ShortString,
}

impl Sink {
    /// Empties the queue, so each measurement starts from the same broker state.
    pub async fn purge(&self) -> anyhow::Result<()> {
        self.channel
            .queue_purge(
                self.queue.clone(),
                lapin::options::QueuePurgeOptions::default(),
            )
            .await?;
        Ok(())
    }
}

pub async fn bind_sink(url: &str, topology: &Topology) -> anyhow::Result<Sink> {
    let (connection, channel) = connect(url).await?;
    topology.declare(&channel).await?;
    let sink = Sink {
        _connection: connection,
        channel,
        queue: topology.queue.as_str().into(),
    };
    // What an earlier run left behind.
    sink.purge().await?;
    Ok(sink)
}

/// Deletes the run's exchange and the sink's queues, messages and all:
/// nothing of a run stays on the broker.
pub async fn delete_topology(url: &str, topology: &Topology) -> anyhow::Result<()> {
    let (connection, channel) = connect(url).await?;
    topology.delete(&channel).await;
    let _ = connection.close(200, "bench done".into()).await;
    Ok(())
}

/// A queue for `task.due` consumed without acks; records (fire time, arrival).
async fn consume_due(url: &str, exchange: &str) -> anyhow::Result<Deliveries> {
    let (connection, channel) = connect(url).await?;
    let queue = bind_private_queue(&channel, exchange, "task.due").await?;
    let options = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let mut consumer = channel
        .basic_consume(queue, "bench".into(), options, FieldTable::default())
        .await?;
    let deliveries: Deliveries = Arc::default();
    let sink = deliveries.clone();
    tokio::spawn(async move {
        let _keep = (connection, channel);
        while let Some(Ok(delivery)) = consumer.next().await {
            let at = Utc::now();
            let body: serde_json::Value =
                serde_json::from_slice(&delivery.data).unwrap_or_default();
            if let Some(fire) = body["data"]["reminderTime"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            {
                sink.lock().expect("not poisoned").push((fire.to_utc(), at));
            }
        }
    });
    Ok(deliveries)
}

/// Waits until the relay has published a probe event (it is connected).
async fn wait_for_relay(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO outbox (event_id, routing_key, payload, traceparent) VALUES (gen_random_uuid(), 'task.probe', '{}', '')")
        .execute(pool)
        .await?;
    notify(pool, task_service::wake::OUTBOX_CHANNEL).await?;
    drain(pool, Duration::from_secs(30))
        .await
        .context("the relay never connected")
}

pub(super) async fn notify(pool: &PgPool, channel: &str) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(channel)
        .execute(pool)
        .await?;
    Ok(())
}

/// Waits until the outbox is empty, looking every 10 ms at its lowest id,
/// from the lowest seen the time before. Every caller's rows are committed
/// before it waits, so no lower id can appear meanwhile.
///
/// Not `EXISTS (SELECT 1 FROM outbox)`, which this did until 2026-12-06: a
/// scan of the table from its first page, across the pages of every row the
/// relay had deleted (autovacuum is off on the development machine, and even
/// with it on a queue's head stays dead between its runs), charged to the
/// relay's turns and never to the bare publisher's. After one run of the
/// events bench a look read 20,223 pages in 24 ms; within the turns it cost
/// too little to show (PostgreSQL's CPU per relayed event 9.8-15.0 µs with
/// this look against 10.2-17.0 with that one, two runs of 10 turns each,
/// alternating), but it grew with every turn. The primary key from the last
/// lowest id reads a leaf page or two.
pub(super) async fn drain(pool: &PgPool, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let mut lowest = i64::MIN;
    loop {
        let left: Option<i64> = sqlx::query_scalar("SELECT min(id) FROM outbox WHERE id >= $1")
            .bind(lowest)
            .fetch_one(pool)
            .await?;
        let Some(id) = left else {
            return Ok(());
        };
        lowest = id;
        anyhow::ensure!(Instant::now() < deadline, "events still in the outbox");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How far ahead of now the seeded reminders start: writing 100,000 of them
/// took 14.8 s on a slow day (2026-12-05), against the 15 s allowed before.
const LEAD_SECONDS: i32 = 30;

/// `n` open tasks, each with one reminder: `rate` per second from
/// [`LEAD_SECONDS`] from now, or all at that moment when `rate` is 0.
/// Returns the first fire time.
async fn seed_reminders(pool: &PgPool, n: u64, rate: u64) -> anyhow::Result<DateTime<Utc>> {
    let start: DateTime<Utc> =
        sqlx::query_scalar("SELECT date_trunc('second', now()) + make_interval(secs => $1)")
            .bind(f64::from(LEAD_SECONDS))
            .fetch_one(pool)
            .await?;
    let spacing_us = if rate == 0 {
        0
    } else {
        1_000_000 / rate as i64
    };
    sqlx::query(
        "WITH t AS ( \
           INSERT INTO tasks (id, owner, title, state, priority, create_time, update_time, due_time) \
           SELECT gen_random_uuid(), 'owner-' || (g % 20000), 'Reminder ' || g, 'pending', 2, now(), now(), \
                  $2 + make_interval(secs => (g * $3)::float8 / 1000000) \
           FROM generate_series(0, $1 - 1) AS g RETURNING id, due_time) \
         INSERT INTO reminders (task_id, fire_time, source) SELECT id, due_time, 'rule' FROM t",
    )
    .bind(i64::try_from(n)?)
    .bind(start)
    .bind(spacing_us)
    .execute(pool)
    .await
    .context("seed reminders")?;
    // Written behind the service's back: tell its scheduler, as any other
    // writer must.
    notify(pool, task_service::wake::SCHEDULE_CHANNEL).await?;
    anyhow::ensure!(
        Utc::now() < start,
        "seeding took longer than {LEAD_SECONDS} s; lower the rate or count"
    );
    Ok(start)
}

/// Waits for `n` deliveries (two minutes at most); seconds from `since` to
/// the last of them.
async fn all_delivered(
    deliveries: &Deliveries,
    n: u64,
    since: DateTime<Utc>,
) -> anyhow::Result<f64> {
    collect(deliveries, n, since + chrono::Duration::seconds(120)).await?;
    let last = deliveries
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|(_, at)| *at)
        .max()
        .unwrap_or(since);
    Ok((last - since).num_milliseconds() as f64 / 1000.0)
}

/// Waits for `n` deliveries; returns their lags in seconds, sorted.
async fn collect(
    deliveries: &Deliveries,
    n: u64,
    deadline: DateTime<Utc>,
) -> anyhow::Result<Vec<f64>> {
    loop {
        let got = deliveries.lock().expect("not poisoned").len() as u64;
        if got >= n {
            break;
        }
        anyhow::ensure!(Utc::now() < deadline, "only {got} of {n} reminders arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut lags: Vec<f64> = deliveries
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|(fire, at)| (*at - *fire).num_microseconds().unwrap_or(0) as f64 / 1e6)
        .collect();
    lags.sort_by(f64::total_cmp);
    Ok(lags)
}

/// A real event's payload: a `task.due` (for the bare burst, its reminder
/// time now) or a `task.updated` (for (c)).
pub(super) async fn sample_payload(pool: &PgPool, due: bool) -> anyhow::Result<Vec<u8>> {
    let task = sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM tasks LIMIT 1")
        .fetch_one(pool)
        .await?;
    let task = task_service::store::tasks::get(pool, task)
        .await?
        .context("a seeded task")?;
    let now = Utc::now();
    let event = if due {
        task_service::events::TaskEvent::due(&task, now, now)
    } else {
        task_service::events::TaskEvent::new(
            task_service::events::EventKind::Updated,
            &task,
            now,
            task_service::events::TraceParent::new_trace(),
        )
    };
    Ok(event.to_outbox().payload)
}
