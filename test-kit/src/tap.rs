//! A test's own view of the events: a queue bound to the test's exchange,
//! consumed with manual acks, that survives our connection being closed
//! (the tap reconnects and carries on; redeliveries are marked as such),
//! and a barrier that shows when it has taken everything its queue held.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};

use crate::AMQP_URL;

/// One delivered message.
#[derive(Debug, Clone)]
pub struct Received {
    pub routing_key: String,
    pub message_id: String,
    pub content_type: String,
    pub delivery_mode: u8,
    pub traceparent: Option<String>,
    /// The tap's own redelivery (its connection dropped before its ack).
    pub redelivered: bool,
    pub body: serde_json::Value,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// At most this many deliveries are on their way to the tap unacked: a
/// backlog waits at the broker, and a closed connection sends back at most
/// this many again. Without it the broker pushed up to 86,718 of a
/// 100,000-event backlog into the tap's buffer, and a fault sent 61,541
/// back to the queue (broker_faults, 2026-12-05).
const PREFETCH: u16 = 1000;

pub struct EventTap {
    queue: String,
    received: Arc<Mutex<Record>>,
    task: tokio::task::JoinHandle<()>,
}

/// Every delivery in order, and the distinct message ids among them (kept
/// as they come, so that a test polling a large backlog does not copy it).
#[derive(Default)]
struct Record {
    all: Vec<Received>,
    ids: HashSet<String>,
    /// The barriers (see [`EventTap::drain`]) that came back, not events.
    barriers: HashSet<String>,
}

/// The message id prefix of a barrier, which the tap does not record as an event.
const BARRIER: &str = "tap-barrier-";

impl EventTap {
    /// Declares the exchange (as task-service does) and a queue bound to
    /// `task.#`, then consumes it in the background.
    pub async fn start(exchange: &str) -> EventTap {
        let queue = format!("tap.{exchange}");
        let connection = connect().await;
        let channel = connection.create_channel().await.unwrap();
        todogenie_common::amqp::declare_exchange(&channel, exchange)
            .await
            .unwrap();
        channel
            .queue_declare(queue.as_str().into(), durable(), FieldTable::default())
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.into(),
                "task.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let received = Arc::new(Mutex::new(Record::default()));
        let task = tokio::spawn(consume_forever(
            exchange.to_owned(),
            queue.clone(),
            received.clone(),
        ));
        EventTap {
            queue,
            received,
            task,
        }
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().all.clone()
    }

    /// How many different message ids came.
    pub fn distinct(&self) -> usize {
        self.received.lock().unwrap().ids.len()
    }

    /// The different message ids that came.
    pub fn ids(&self) -> HashSet<String> {
        self.received.lock().unwrap().ids.clone()
    }

    /// Polls until `done` holds for what arrived, or panics after `deadline`.
    pub async fn wait_until(
        &self,
        deadline: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let until = Instant::now() + deadline;
        loop {
            let all = self.all();
            if done(&all) {
                return all;
            }
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}; got {} events: {:#?}",
                all.len(),
                summary(&all)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Returns once the tap has taken every message its queue held when
    /// called: a barrier message goes to the back of the queue (straight to
    /// it, confirmed by the broker), and the queue hands out in order, so
    /// when the barrier comes back everything ahead of it has come too.
    pub async fn drain(&self, within: Duration) {
        let id = format!("{BARRIER}{}", uuid::Uuid::new_v4());
        let connection = connect().await;
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let confirm = channel
            .basic_publish(
                "".into(),
                self.queue.as_str().into(),
                BasicPublishOptions::default(),
                b"",
                BasicProperties::default().with_message_id(id.as_str().into()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack(), "the broker took the tap's barrier");
        let _ = connection.close(200, "barrier sent".into()).await;
        crate::poll(within, "the tap's barrier back", || async {
            self.received.lock().unwrap().barriers.contains(&id)
        })
        .await;
    }
}

pub(crate) fn summary(all: &[Received]) -> Vec<String> {
    all.iter()
        .map(|r| format!("{} {}", r.routing_key, r.body["subject"]))
        .collect()
}

/// Durable: a broker restarted by a test keeps the queue and its binding,
/// so what the relay publishes before the tap has reconnected still reaches
/// it (a non-durable queue went with the restart, and an event published
/// in that gap never came: seen in CI on 2026-12-02).
fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

async fn connect() -> Connection {
    Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ must run on 127.0.0.1:5672 (guest/guest)")
}

async fn consume_forever(exchange: String, queue: String, received: Arc<Mutex<Record>>) {
    loop {
        let Ok(connection) = Connection::connect(AMQP_URL, ConnectionProperties::default()).await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(channel) = connection.create_channel().await else {
            continue;
        };
        // Declared and bound again on every connection: idempotent, and
        // whatever the broker went through meanwhile.
        let declared = channel
            .queue_declare(queue.as_str().into(), durable(), FieldTable::default())
            .await
            .is_ok()
            && channel
                .queue_bind(
                    queue.as_str().into(),
                    exchange.as_str().into(),
                    "task.#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .is_ok();
        let declared = declared
            && channel
                .basic_qos(PREFETCH, BasicQosOptions::default())
                .await
                .is_ok();
        if !declared {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let Ok(mut consumer) = channel
            .basic_consume(
                queue.as_str().into(),
                "tap".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        while let Some(Ok(delivery)) = consumer.next().await {
            let properties = &delivery.properties;
            let traceparent = properties.headers().as_ref().and_then(|h| {
                h.inner().get("traceparent").and_then(|v| match v {
                    AMQPValue::LongString(s) => Some(s.to_string()),
                    _ => None,
                })
            });
            let record = Received {
                routing_key: delivery.routing_key.to_string(),
                message_id: properties
                    .message_id()
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                content_type: properties
                    .content_type()
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                delivery_mode: properties.delivery_mode().unwrap_or(0),
                traceparent,
                redelivered: delivery.redelivered,
                body: serde_json::from_slice(&delivery.data).unwrap_or(serde_json::Value::Null),
                at: chrono::Utc::now(),
            };
            {
                let mut received = received.lock().unwrap();
                if record.message_id.starts_with(BARRIER) {
                    received.barriers.insert(record.message_id);
                } else {
                    received.ids.insert(record.message_id.clone());
                    received.all.push(record);
                }
            }
            let _ = delivery.ack(BasicAckOptions::default()).await;
        }
    }
}

impl Drop for EventTap {
    fn drop(&mut self) {
        self.task.abort();
        let queue = self.queue.clone();
        crate::block_on_own_runtime(async move {
            if let Ok(connection) =
                Connection::connect(AMQP_URL, ConnectionProperties::default()).await
            {
                if let Ok(channel) = connection.create_channel().await {
                    let _ = channel
                        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                        .await;
                }
            }
        });
    }
}
