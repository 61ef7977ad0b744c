//! Consuming task events: the durable quorum queue of the shared topology
//! (`todogenie_common::amqp`: bound to `task.#`, a dead-letter exchange, a
//! delivery limit); each batch applied in one
//! transaction (inbox, task states, notifications) and acked only after that
//! commit. A malformed message is dead-lettered with its reason logged. The
//! supervisor reconnects with backoff after the broker goes away.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use sqlx::PgPool;
use todogenie_common::amqp::{self, Topology};
use todogenie_common::backoff::backoff;
use todogenie_common::events::TraceParent;
use tokio_util::sync::CancellationToken;

use crate::delivery::Engine;
use crate::domain::TaskEvent;
use crate::store;

/// Unacked messages the broker may push to us at once (one batch's worth).
const PREFETCH: u16 = 500;
/// How long a batch waits for more messages that are already on the way.
const GATHER: Duration = Duration::from_millis(5);

#[derive(Clone)]
pub(crate) struct Consumer {
    pub pool: PgPool,
    pub amqp_url: String,
    /// The exchange and our queue on it (declared by task-service too).
    pub topology: Topology,
    /// Added to each reminder's time before it is sent (see `store::events`).
    pub digest_gather: Duration,
    pub engine: Engine,
    /// True while connected and consuming; `/readyz` reads it.
    pub broker_up: Arc<AtomicBool>,
}

impl Consumer {
    /// Consumes until `shutdown`, reconnecting with backoff.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            match self.consume_once(&shutdown).await {
                Ok(()) => return,
                Err(e) => {
                    self.broker_up.store(false, Ordering::SeqCst);
                    metrics::gauge!("amqp_connected").set(0.0);
                    failures += 1;
                    tracing::warn!(
                        error = format!("{e:#}"),
                        failures,
                        "event consumer lost its connection"
                    );
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(backoff(failures)) => {}
            }
        }
        self.broker_up.store(false, Ordering::SeqCst);
    }

    /// One connection's worth of consuming; `Ok` at shutdown.
    async fn consume_once(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let queue = self.topology.queue.as_str();
        let name = format!("notifier-service consumer {queue}");
        let (connection, _channel, mut consumer) =
            amqp::connect_with(&self.amqp_url, &name, async |channel| {
                self.topology
                    .declare(channel)
                    .await
                    .context("cannot declare the event topology")?;
                channel
                    .basic_qos(PREFETCH, BasicQosOptions::default())
                    .await
                    .context("cannot set the prefetch")?;
                // Manual acks: a message is acked only once its effect is committed.
                channel
                    .basic_consume(
                        queue.into(),
                        "notifier".into(),
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                    .context("cannot consume")
            })
            .await?;
        self.broker_up.store(true, Ordering::SeqCst);
        metrics::gauge!("amqp_connected").set(1.0);
        tracing::info!(queue, "consuming task events");
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => break,
                next = consumer.next() => next,
            };
            let Some(first) = first else {
                anyhow::bail!("the consumer ended")
            };
            let mut batch = vec![first.context("delivery failed")?];
            while batch.len() < usize::from(PREFETCH) {
                match tokio::time::timeout(GATHER, consumer.next()).await {
                    Ok(Some(next)) => batch.push(next.context("delivery failed")?),
                    Ok(None) | Err(_) => break,
                }
            }
            self.handle(batch, shutdown).await?;
        }
        // Unacked messages go back to the queue with the channel.
        amqp::close(&connection, "shutting down").await;
        Ok(())
    }

    /// Dead-letters what cannot be parsed, applies the rest in one
    /// transaction, and acks after the commit; what PostgreSQL refuses is
    /// found event by event and dead-lettered with its reason.
    async fn handle(
        &self,
        batch: Vec<Delivery>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut good = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        // One span per event, in the trace its message carries, open until
        // the batch is acknowledged (or dead-lettered).
        let _spans: Vec<tracing::Span> = batch.iter().map(consume_span).collect();
        for delivery in batch {
            match TaskEvent::parse(&delivery.data) {
                Ok(mut event) => {
                    // A notification it queues remembers its trace (bounded,
                    // well-formed, or none).
                    event.traceparent =
                        header_traceparent(&delivery).filter(|t| TraceParent::parse(t).is_some());
                    events.push(event);
                    good.push(delivery);
                }
                Err(reason) => {
                    dead_letter(delivery, &format!("not a task event: {reason}")).await?;
                }
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        match self.apply_retrying(&events, shutdown).await {
            Applying::Done => ack_all(good).await,
            Applying::Stopped => Ok(()),
            // One of them is poison: apply each alone, dead-letter what fails.
            Applying::Refused(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "PostgreSQL refuses a batch of events; applying them one by one"
                );
                for (event, delivery) in events.iter().zip(good) {
                    match self
                        .apply_retrying(std::slice::from_ref(event), shutdown)
                        .await
                    {
                        Applying::Done => ack_all(vec![delivery]).await?,
                        Applying::Stopped => return Ok(()),
                        Applying::Refused(e) => {
                            dead_letter(delivery, &format!("PostgreSQL refuses it: {e:#}")).await?;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Applies `events` in one transaction. A database hiccup is waited out
    /// here, holding the messages (fine for seconds; nacking would count
    /// towards the delivery limit and dead-letter good events), until
    /// shutdown; an error in the data itself is returned at once.
    async fn apply_retrying(&self, events: &[TaskEvent], shutdown: &CancellationToken) -> Applying {
        let mut failures = 0;
        loop {
            match store::events::apply(&self.pool, events, self.digest_gather).await {
                Ok(applied) => {
                    metrics::counter!("events_consumed_total").increment(events.len() as u64);
                    if applied.notifications > 0 {
                        self.engine.wake();
                    }
                    return Applying::Done;
                }
                Err(e) if is_data_error(&e) => return Applying::Refused(e),
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = format!("{e:#}"), "cannot record events; retrying");
                    tokio::select! {
                        // Unacked, they go back to the queue with the channel.
                        () = shutdown.cancelled() => return Applying::Stopped,
                        () = tokio::time::sleep(backoff(failures)) => {}
                    }
                }
            }
        }
    }
}

/// How applying a batch ended.
enum Applying {
    Done,
    /// Shutdown came first: nothing acked.
    Stopped,
    /// PostgreSQL refuses the data itself (SQLSTATE class 22 or 23).
    Refused(anyhow::Error),
}

/// A data exception (class 22: bad value, NUL, out of range) or an
/// integrity constraint violation (class 23): retrying cannot help.
fn is_data_error(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::Database(e))
                if e.code().is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
        )
    })
}

async fn ack_all(deliveries: Vec<Delivery>) -> anyhow::Result<()> {
    for delivery in deliveries {
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .context("cannot ack")?;
    }
    Ok(())
}

/// Nacks without requeue: the queue's dead-letter exchange takes it.
async fn dead_letter(delivery: Delivery, reason: &str) -> anyhow::Result<()> {
    tracing::warn!(
        reason,
        routing_key = %delivery.routing_key,
        "dead-lettering a message"
    );
    metrics::counter!("events_dead_lettered_total").increment(1);
    delivery
        .acker
        .nack(BasicNackOptions {
            requeue: false,
            ..BasicNackOptions::default()
        })
        .await
        .context("cannot dead-letter")?;
    Ok(())
}

/// The span of handling one event: a child of the trace its `traceparent`
/// header names (the change in task-service that made it).
fn consume_span(delivery: &Delivery) -> tracing::Span {
    if !todogenie_common::telemetry::exporting() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!("event consume", otel.kind = "consumer");
    todogenie_common::telemetry::continue_trace(&span, header_traceparent(delivery).as_deref());
    span
}

/// The message's `traceparent` header, when traces are exported.
fn header_traceparent(delivery: &Delivery) -> Option<String> {
    if !todogenie_common::telemetry::exporting() {
        return None;
    }
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("traceparent"))
        .and_then(|v| match v {
            lapin::types::AMQPValue::LongString(s) => Some(s.to_string()),
            lapin::types::AMQPValue::ShortString(s) => Some(s.to_string()),
            _ => None,
        })
}
