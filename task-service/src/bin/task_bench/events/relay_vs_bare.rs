//! (c) of `task-bench --events`: the outbox relay draining rows against a
//! bare lapin publisher sending the same messages the way the relay does,
//! in rounds that alternate which goes first.

use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sqlx::PgPool;

use super::{drain, notify, percentile, sample_payload, EventArgs, Sink};
use crate::stats::{cpu_of_command, process_cpu};

/// The trace context of (c)'s events, and so of their messages' header.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Runs (c)'s rounds, printing each and the median ratio; returns the bare
/// publisher's rates, lowest first.
pub(super) async fn rounds(
    pool: &PgPool,
    args: &EventArgs,
    sink: &Sink,
) -> anyhow::Result<Vec<f64>> {
    // (c), in rounds that alternate which goes first: one pair's ratio moves
    // with the bare publisher's luck (over 18 single pairs on 2026-12-02 the
    // bare rate ranged 22,600-34,800/s, the relay's 20,600-28,100/s), so the
    // figure is the median of the rounds' ratios.
    // Each starts from an empty queue: a queue already holding the other's
    // messages slows the broker (measured: bare 21,848/s after the relay's
    // 400,000 against 25,293/s into an empty queue).
    let payload = sample_payload(pool, false).await?;
    let mut ratios = Vec::new();
    let mut bare_rates = Vec::new();
    for round in 0..args.relay_rounds {
        let relay_first = round % 2 == 0;
        let mut relay_rate = 0.0;
        let mut bare_rate = 0.0;
        let mut relay_cpu = CpuSplit::default();
        let mut bare_cpu = CpuSplit::default();
        for relay_turn in [relay_first, !relay_first] {
            sink.purge().await?;
            if relay_turn {
                (relay_rate, relay_cpu) =
                    relay_throughput(pool, args.relay_events, &payload).await?;
            } else {
                let before = CpuSplit::now();
                bare_rate = args.relay_events as f64
                    / bare_publish(
                        &args.amqp_url,
                        &args.exchange,
                        "task.bench",
                        args.relay_events,
                        &payload,
                    )
                    .await?
                    .as_secs_f64();
                bare_cpu = CpuSplit::now().minus(&before);
            }
        }
        println!(
            "outbox relay {:>9.0} events/s   bare lapin publisher {:>9.0}/s   relay/bare = {:.2}   ({} events of {} bytes, round {} of {}, {} first)",
            relay_rate,
            bare_rate,
            relay_rate / bare_rate,
            args.relay_events,
            payload.len(),
            round + 1,
            args.relay_rounds,
            if relay_first { "relay" } else { "bare" },
        );
        println!(
            "  CPU per event, µs: relay {}   bare {}",
            relay_cpu.per_event(args.relay_events),
            bare_cpu.per_event(args.relay_events),
        );
        ratios.push(relay_rate / bare_rate);
        bare_rates.push(bare_rate);
    }
    ratios.sort_by(f64::total_cmp);
    bare_rates.sort_by(f64::total_cmp);
    println!(
        "relay/bare median of {} rounds = {:.2}   (lowest {:.2}, highest {:.2})",
        ratios.len(),
        percentile(&ratios, 50.0),
        ratios.first().copied().unwrap_or(0.0),
        ratios.last().copied().unwrap_or(0.0),
    );
    Ok(bare_rates)
}

/// Times the relay draining `n` outbox rows, from the commit of the
/// transaction that wrote them all (when they become visible to it, and its
/// NOTIFY wakes it) until the outbox is empty; and the CPU used meanwhile.
async fn relay_throughput(
    pool: &PgPool,
    n: u64,
    payload: &[u8],
) -> anyhow::Result<(f64, CpuSplit)> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO outbox (event_id, routing_key, payload, traceparent) \
         SELECT gen_random_uuid(), 'task.bench', $2, $3 FROM generate_series(1, $1)",
    )
    .bind(i64::try_from(n)?)
    .bind(payload)
    .bind(TRACEPARENT)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let before = CpuSplit::now();
    let started = Instant::now();
    notify(pool, task_service::wake::OUTBOX_CHANNEL).await?;
    drain(pool, Duration::from_secs(300)).await?;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    Ok((rate, CpuSplit::now().minus(&before)))
}

/// The same messages (payload, properties, traceparent header) published as
/// the relay publishes them, without the database: as many connections as
/// relay loops, each with a confirm-mode channel and a batch in flight at a
/// time, started together (`relay::publisher::publish_together`), awaiting the batch's
/// confirms. How long all `n` took.
pub(super) async fn bare_publish(
    url: &str,
    exchange: &str,
    routing_key: &'static str,
    n: u64,
    payload: &[u8],
) -> anyhow::Result<Duration> {
    let workers = task_service::startup::RELAY_WORKERS as u64;
    let mut channels = Vec::new();
    for _ in 0..workers {
        let connection = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        channels.push((connection, channel));
    }
    let started = Instant::now();
    let mut publishers = Vec::new();
    for (i, (connection, channel)) in channels.into_iter().enumerate() {
        let share = n / workers + u64::from((i as u64) < n % workers);
        let exchange = exchange.to_owned();
        let payload = payload.to_vec();
        publishers.push(tokio::spawn(async move {
            let mut sent = 0;
            while sent < share {
                let batch = (share - sent).min(1000);
                let publishes: Vec<_> = (0..batch)
                    .map(|_| {
                        // The relay's messages carry a traceparent header: so do these.
                        let mut headers = FieldTable::default();
                        headers.insert(
                            "traceparent".into(),
                            lapin::types::AMQPValue::LongString(TRACEPARENT.into()),
                        );
                        let properties = BasicProperties::default()
                            .with_content_type("application/cloudevents+json".into())
                            .with_delivery_mode(2)
                            .with_message_id(uuid::Uuid::new_v4().to_string().into())
                            .with_headers(headers);
                        let options = BasicPublishOptions {
                            mandatory: true,
                            ..BasicPublishOptions::default()
                        };
                        channel.basic_publish(
                            exchange.as_str().into(),
                            routing_key.into(),
                            options,
                            &payload,
                            properties,
                        )
                    })
                    .collect();
                // Started together, as the relay starts its batch.
                let mut sent_now = Vec::with_capacity(batch as usize);
                task_service::relay::publisher::publish_together(publishes, &mut sent_now).await;
                let confirms = sent_now.into_iter().collect::<Result<Vec<_>, _>>()?;
                for confirm in confirms {
                    anyhow::ensure!(confirm.await?.is_ack(), "the broker refused a message");
                }
                sent += batch;
            }
            let _ = connection.close(200, "bye".into()).await;
            anyhow::Ok(())
        }));
    }
    for publisher in publishers {
        publisher.await??;
    }
    Ok(started.elapsed())
}

/// CPU time used by the bench's own process (the relay or the bare
/// publisher), RabbitMQ and PostgreSQL: where a turn's work went on a
/// machine they share.
#[derive(Default)]
struct CpuSplit {
    ours: Duration,
    broker: Duration,
    postgres: Duration,
}

impl CpuSplit {
    fn now() -> Self {
        Self {
            ours: process_cpu(),
            broker: cpu_of_command("beam.smp"),
            postgres: cpu_of_command("postgres"),
        }
    }

    fn minus(&self, before: &Self) -> Self {
        Self {
            ours: self.ours.saturating_sub(before.ours),
            broker: self.broker.saturating_sub(before.broker),
            postgres: self.postgres.saturating_sub(before.postgres),
        }
    }

    fn per_event(&self, events: u64) -> String {
        let micros = |d: Duration| d.as_secs_f64() * 1e6 / events.max(1) as f64;
        format!(
            "ours {:>5.1} · RabbitMQ {:>5.1} · PostgreSQL {:>5.1}",
            micros(self.ours),
            micros(self.broker),
            micros(self.postgres),
        )
    }
}
