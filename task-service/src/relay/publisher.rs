//! One AMQP connection and confirm-mode channel to RabbitMQ, with the
//! exchange declared: publishes a batch of outbox rows with every message in
//! flight at once and reports, per row, what the broker said.

use std::time::Duration;

use anyhow::Context;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, PublisherConfirm};
use todogenie_common::amqp::{self, Topology};
use todogenie_common::events::CONTENT_TYPE;
use todogenie_common::telemetry;

use crate::store::outbox::OutboxRow;

/// What became of one published row.
#[derive(Debug)]
pub enum Delivery {
    /// The broker took it (routed and stored): the row may go.
    Confirmed,
    /// No queue is bound for its routing key (`mandatory` brought it back).
    Returned,
    /// The broker refused it.
    Nacked,
    /// The channel or connection failed before an answer came.
    Lost(String),
}

/// How long a batch's publishes and confirms may take together before the
/// rest count as lost (and the publisher as broken). Shorter than the
/// relay's 30-s lease, so a relay gives a batch up before another may claim
/// it; a batch of 1,000 took 35-99 ms (task-bench --events, 2026-12-04).
/// Lost after a timeout is ambiguous: the broker may have the message, and
/// it goes again with the same id (consumers drop a repeated id).
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(20);

pub struct Publisher {
    connection: Connection,
    channel: Channel,
    exchange: String,
    /// `CONFIRM_WITHIN` unless a test shortens it.
    pub confirm_within: Duration,
}

impl Publisher {
    /// Connects and declares the whole event topology (the notifier's queue
    /// too, so that what we publish before its first start waits there).
    /// All of it within `amqp::CONNECT_WITHIN`.
    pub async fn connect_declaring(url: &str, topology: &Topology) -> anyhow::Result<Self> {
        Self::open(url, &topology.exchange, Some(topology)).await
    }

    /// Connects and declares only the exchange, within `amqp::CONNECT_WITHIN`.
    pub async fn connect(url: &str, exchange: &str) -> anyhow::Result<Self> {
        Self::open(url, exchange, None).await
    }

    async fn open(url: &str, exchange: &str, topology: Option<&Topology>) -> anyhow::Result<Self> {
        let name = format!("task-service relay {exchange}");
        let (connection, channel, ()) = amqp::connect_with(url, &name, async |channel| {
            amqp::declare_exchange(channel, exchange)
                .await
                .with_context(|| format!("cannot declare exchange {exchange}"))?;
            if let Some(topology) = topology {
                topology
                    .declare(channel)
                    .await
                    .context("cannot declare the event topology")?;
            }
            // Confirms: a row leaves the outbox only once the broker has it.
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .context("cannot enable publisher confirms")
        })
        .await?;
        Ok(Self {
            connection,
            channel,
            exchange: exchange.to_owned(),
            confirm_within: CONFIRM_WITHIN,
        })
    }

    /// Publishes every row, then awaits all confirms together; what has no
    /// answer by `confirm_within` is lost. One deadline timer per batch,
    /// not one per message (see README, "Every wait on the broker").
    pub async fn publish(&self, rows: &[OutboxRow]) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + self.confirm_within;
        let mut pending = Vec::with_capacity(rows.len());
        // Flow control (a broker short of memory or disk) holds a publish
        // here: the deadline bounds it.
        // Collected first: a closure's iterator held across the awaits would
        // make the relay's future not `Send` (higher-ranked lifetimes).
        let publishes: Vec<_> = rows.iter().map(|row| self.publish_one(row)).collect();
        let publishing = publish_together(publishes, &mut pending);
        let _ = tokio::time::timeout_at(deadline, publishing).await;
        let mut deliveries = Vec::with_capacity(rows.len());
        let confirming = async {
            for sent in pending {
                deliveries.push(match sent {
                    Err(e) => Delivery::Lost(e.to_string()),
                    Ok(confirm) => match confirm.await {
                        Ok(Confirmation::Ack(None)) => Delivery::Confirmed,
                        Ok(Confirmation::Ack(Some(_))) => Delivery::Returned,
                        Ok(Confirmation::Nack(_)) => Delivery::Nacked,
                        Ok(Confirmation::NotRequested) => Delivery::Lost("confirms are off".into()),
                        Err(e) => Delivery::Lost(e.to_string()),
                    },
                });
            }
        };
        let _ = tokio::time::timeout_at(deadline, confirming).await;
        // What was not published, or not confirmed, by the deadline.
        deliveries.resize_with(rows.len(), || {
            Delivery::Lost(format!("no confirm within {:?}", self.confirm_within))
        });
        deliveries
    }

    async fn publish_one(&self, row: &OutboxRow) -> lapin::Result<PublisherConfirm> {
        let traceparent = traceparent_for(row);
        let mut headers = FieldTable::default();
        headers.insert(
            "traceparent".into(),
            AMQPValue::LongString(traceparent.into()),
        );
        let properties = BasicProperties::default()
            .with_content_type(CONTENT_TYPE.into())
            // 2: persistent, so a durable queue keeps it across broker restarts.
            .with_delivery_mode(2)
            .with_message_id(row.event_id.to_string().into())
            .with_headers(headers);
        self.channel
            .basic_publish(
                self.exchange.as_str().into(),
                row.routing_key.as_str().into(),
                // mandatory: an event no queue takes comes back instead of vanishing.
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &row.payload,
                properties,
            )
            .await
    }

    pub fn is_connected(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }

    /// Closes politely if the broker answers within `amqp::CLOSE_WITHIN`; a
    /// broker that answers nothing (the reason, often, that this publisher
    /// is closed) gets its connection dropped instead.
    pub async fn close(self) {
        amqp::close(&self.connection, "bye").await;
    }
}

/// Awaits `publishes` (lapin `basic_publish` futures), pushing each one's
/// result onto `sent` in the order given, but starts them all first, in
/// that order. A publish queues its frames for lapin's I/O thread (and takes
/// its delivery tag) at its first poll, then waits until that thread has
/// written them: awaited one by one, every message is a round trip between
/// two threads (a futex wake each way, most of the `lapin-io-loop` thread's
/// 22 % of task-service's CPU under CreateTask load, `perf`, 2026-12-06);
/// started together, the thread writes the batch in one go. A caller that
/// gives up early (a deadline) keeps the results pushed so far; frames
/// already queued may still go out, as a timed-out publish's always could.
pub async fn publish_together<F, T>(publishes: Vec<F>, sent: &mut Vec<T>)
where
    F: std::future::Future<Output = T>,
{
    let mut started = Vec::new();
    for publish in publishes {
        let mut publish = Box::pin(publish);
        started.push(match futures::poll!(publish.as_mut()) {
            std::task::Poll::Ready(result) => Ok(result),
            std::task::Poll::Pending => Err(publish),
        });
    }
    for publish in started {
        sent.push(match publish {
            Ok(result) => result,
            Err(waiting) => waiting.await,
        });
    }
}

/// The `traceparent` a row's message carries. When traces are exported, the
/// publish is a span of its own that continues the trace of the change that
/// wrote the row, and the message carries the publish's context on;
/// otherwise the row's own context passes on unchanged, and no span is
/// made: the relay made one per message whatever the exporter, and with the
/// service's log subscriber a span costs its fields' formatting and the
/// registry's bookkeeping (measured in `task-bench --events`, README, fifth
/// session of 2026-12-04).
fn traceparent_for(row: &OutboxRow) -> String {
    if !telemetry::exporting() {
        return row.traceparent.clone();
    }
    let span = tracing::info_span!(
        "outbox publish",
        otel.kind = "producer",
        messaging.destination = %row.routing_key,
    );
    telemetry::continue_trace(&span, Some(row.traceparent.as_str()));
    telemetry::traceparent_of(&span).unwrap_or_else(|| row.traceparent.clone())
}

#[cfg(test)]
mod tests {
    use super::publish_together;

    #[tokio::test]
    async fn publishes_all_start_in_order_before_any_is_awaited() {
        use std::sync::{Arc, Mutex};
        let started = Arc::new(Mutex::new(Vec::new()));
        let (open, gate) = tokio::sync::watch::channel(false);
        // The second finishes at its first poll, the others wait for the gate
        // (as a publish waits for lapin's I/O thread).
        let publishes = (0..3)
            .map(|i| {
                let (started, mut gate) = (started.clone(), gate.clone());
                async move {
                    started.lock().unwrap().push(i);
                    if i != 1 {
                        gate.wait_for(|open| *open).await.unwrap();
                    }
                    i * 10
                }
            })
            .collect();
        let mut sent = Vec::new();
        {
            let together = publish_together(publishes, &mut sent);
            tokio::pin!(together);
            assert!(futures::poll!(together.as_mut()).is_pending());
            assert_eq!(
                *started.lock().unwrap(),
                [0, 1, 2],
                "all started, in order, while the first still waits"
            );
            open.send(true).unwrap();
            together.await;
        }
        assert_eq!(sent, [0, 10, 20], "results in the order given");
    }
}
