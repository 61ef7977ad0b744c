//! RabbitMQ as both services use it: a named connection, the topology
//! declared in one place (README, "Events"), private queues for live views,
//! (reconnect loops wait by `crate::backoff`).

use anyhow::Context;
use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

/// A poison message is dead-lettered after this many deliveries.
pub const DELIVERY_LIMIT: i64 = 5;
/// What the notifier's queue is bound to: every task event.
pub const TASK_EVENTS: &str = "task.#";

/// The exchange task events go to and the notifier's queue on it. Both
/// services declare all of it at start, with the same arguments (RabbitMQ
/// refuses a second declaration that differs), so events published before
/// the notifier's first start wait in its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub exchange: String,
    pub queue: String,
}

impl Topology {
    pub fn new(exchange: impl Into<String>, queue: impl Into<String>) -> Self {
        Self {
            exchange: exchange.into(),
            queue: queue.into(),
        }
    }

    /// Where the notifier's queue sends what it gives up on.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.exchange)
    }

    /// Keeps dead letters for an operator to read, not dropped.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.queue)
    }

    /// Declares the exchange, the dead-letter exchange and its queue, and the
    /// notifier's quorum queue bound to `task.#`. Idempotent.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let dlx = self.dead_letter_exchange();
        declare_exchange(channel, &self.exchange).await?;
        declare_exchange(channel, &dlx).await?;
        // Quorum queues are replicated and durable: events survive a broker
        // restart.
        let mut quorum = FieldTable::default();
        quorum.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
        let dead = self.dead_letter_queue();
        declare_durable_queue(channel, &dead, quorum.clone()).await?;
        bind(channel, &dead, &dlx, "#").await?;
        let mut arguments = quorum;
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from(dlx.as_str())),
        );
        // A message that keeps failing is dead-lettered instead of looping.
        arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(DELIVERY_LIMIT),
        );
        declare_durable_queue(channel, &self.queue, arguments).await?;
        bind(channel, &self.queue, &self.exchange, TASK_EVENTS).await
    }

    /// Deletes what `declare` made: both queues (with their messages) and
    /// both exchanges. What is already gone is no error (tests and
    /// benchmarks clean up after themselves with it).
    pub async fn delete(&self, channel: &Channel) {
        for queue in [self.queue.clone(), self.dead_letter_queue()] {
            let _ = channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        for exchange in [self.exchange.clone(), self.dead_letter_exchange()] {
            let _ = channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await;
        }
    }
}

/// Declares a durable topic exchange.
pub async fn declare_exchange(channel: &Channel, exchange: &str) -> lapin::Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
}

async fn declare_durable_queue(
    channel: &Channel,
    queue: &str,
    arguments: FieldTable,
) -> lapin::Result<()> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), durable, arguments)
        .await
        .map(drop)
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> lapin::Result<()> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Declares the exchange and a private queue (exclusive, server-named, gone
/// with the connection) bound to it with `routing_key`; returns its name.
pub async fn bind_private_queue(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
) -> lapin::Result<ShortString> {
    declare_exchange(channel, exchange).await?;
    let options = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    let queue = channel
        .queue_declare("".into(), options, FieldTable::default())
        .await?;
    bind(channel, queue.name().as_str(), exchange, routing_key).await?;
    Ok(queue.name().clone())
}

/// How long opening a connection and its channel may take: a broker that
/// accepts the TCP connection and then answers nothing (hung, or a network
/// dropping packets) would otherwise hold the caller until the kernel gives
/// up, minutes later. Locally a connection opens in a few milliseconds.
pub const CONNECT_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens a connection named `name` (operators and tests tell our
/// connections apart by it) and one channel on it, then runs `setup`
/// on the channel (declarations, prefetch, a subscription): all of it
/// within one `CONNECT_WITHIN`, since a broker that accepted the connection
/// and then hangs would otherwise hold the caller at any of those steps
/// until lapin misses two heartbeats.
pub async fn connect_with<T>(
    url: &str,
    name: &str,
    setup: impl AsyncFnOnce(&Channel) -> anyhow::Result<T>,
) -> anyhow::Result<(Connection, Channel, T)> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let opening = async {
        let connection = Connection::connect(url, properties)
            .await
            .context("cannot connect to RabbitMQ")?;
        let channel = connection
            .create_channel()
            .await
            .context("cannot open a channel")?;
        let made = setup(&channel).await?;
        anyhow::Ok((connection, channel, made))
    };
    tokio::time::timeout(CONNECT_WITHIN, opening)
        .await
        .with_context(|| format!("RabbitMQ did not answer within {CONNECT_WITHIN:?}"))?
}

/// How long a polite close may take. A broker that answers nothing (often
/// the reason the connection is being closed) would otherwise hold the
/// closer until lapin misses two heartbeats (two minutes at RabbitMQ's
/// default of 60 s); after this the connection is dropped instead.
pub const CLOSE_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Closes `connection` (and its channels) with `reason` if the broker
/// answers within `CLOSE_WITHIN`; otherwise gives up and leaves it to be
/// dropped.
pub async fn close(connection: &Connection, reason: &str) {
    let closing = connection.close(200, reason.into());
    let _ = tokio::time::timeout(CLOSE_WITHIN, closing).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_are_named_after_the_exchange_and_queue() {
        let topology = Topology::new("todogenie.events", "notifier.task-events");
        assert_eq!(topology.dead_letter_exchange(), "todogenie.events.dlx");
        assert_eq!(topology.dead_letter_queue(), "notifier.task-events.dead");
    }
}
