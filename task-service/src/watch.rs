//! WatchTasks' feed. Each replica consumes every published event from an
//! exclusive, server-named queue bound to `task.#` (so it sees the events of
//! every replica, committed ones only) and fans them out to its watchers
//! through a broadcast channel. A watcher that falls behind, or a feed that
//! was interrupted (its queue goes with its connection), ends the stream
//! with an error instead of silently skipping events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use todogenie_proto::v1 as pb;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::auth::Caller;
use crate::events::{CloudEvent, EventKind};
use crate::relay::publisher::declare_exchange;

/// Events buffered per watcher before it counts as too slow.
const WATCHER_BUFFER: usize = 4096;

#[derive(Clone, Debug)]
enum Feed {
    Event {
        owner: String,
        event: Arc<pb::TaskEvent>,
    },
    Interrupted,
}

#[derive(Clone)]
pub struct WatchHub {
    feed: broadcast::Sender<Feed>,
    live: Arc<AtomicBool>,
    /// Open streams end when the service shuts down.
    shutdown: CancellationToken,
}

impl WatchHub {
    /// Starts consuming; reconnects with backoff until `shutdown`.
    pub fn start(amqp_url: String, exchange: String, shutdown: CancellationToken) -> Self {
        let (feed, _) = broadcast::channel(WATCHER_BUFFER);
        let hub = Self {
            feed,
            live: Arc::new(AtomicBool::new(false)),
            shutdown: shutdown.clone(),
        };
        tokio::spawn(hub.clone().consume(amqp_url, exchange, shutdown));
        hub
    }

    async fn consume(self, amqp_url: String, exchange: String, shutdown: CancellationToken) {
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            let result = tokio::select! {
                () = shutdown.cancelled() => break,
                result = self.consume_once(&amqp_url, &exchange) => result,
            };
            if self.live.swap(false, Ordering::SeqCst) {
                let _ = self.feed.send(Feed::Interrupted);
            }
            failures += 1;
            if let Err(e) = result {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "WatchTasks feed interrupted; reconnecting"
                );
            }
            let pause =
                Duration::from_millis(100u64 << failures.min(6)).min(Duration::from_secs(5));
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn consume_once(&self, amqp_url: &str, exchange: &str) -> anyhow::Result<()> {
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("task-service watch {exchange}").into());
        let connection = Connection::connect(amqp_url, properties).await?;
        let channel = connection.create_channel().await?;
        declare_exchange(&channel, exchange).await?;
        // Exclusive and server-named: this replica's private copy of the
        // stream, deleted with the connection.
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_bind(
                queue.name().clone(),
                exchange.into(),
                "task.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        // no_ack: a live view, nothing to redeliver once the queue is gone.
        let mut consumer = channel
            .basic_consume(
                queue.name().clone(),
                "watch".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        self.live.store(true, Ordering::SeqCst);
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            if self.feed.receiver_count() == 0 {
                // Nobody is watching: don't spend CPU decoding.
                continue;
            }
            match to_task_event(&delivery.data) {
                Some((owner, event)) => {
                    // No receivers is fine: nobody is watching.
                    let _ = self.feed.send(Feed::Event {
                        owner,
                        event: Arc::new(event),
                    });
                }
                None => {
                    tracing::warn!("WatchTasks feed skipped a message that is not a task event")
                }
            }
        }
        anyhow::bail!("the consumer ended")
    }

    /// A stream of the events `caller` may see (admin and service: all).
    pub fn subscribe(
        &self,
        caller: &Caller,
    ) -> Result<ReceiverStream<Result<pb::TaskEvent, Status>>, Status> {
        if !self.live.load(Ordering::SeqCst) {
            return Err(Status::unavailable(
                "the event feed is not connected yet; try again",
            ));
        }
        let mut feed = self.feed.subscribe();
        let (tx, rx) = mpsc::channel(64);
        let caller = caller.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    () = shutdown.cancelled() => Err(broadcast::error::RecvError::Closed),
                    received = feed.recv() => received,
                };
                let item = match received {
                    Ok(Feed::Event { owner, event }) => {
                        if !caller.is_privileged() && owner != caller.user.as_str() {
                            continue;
                        }
                        Ok(event.as_ref().clone())
                    }
                    Ok(Feed::Interrupted) => Err(Status::unavailable(
                        "the event feed was interrupted; watch again",
                    )),
                    Err(broadcast::error::RecvError::Lagged(n)) => Err(Status::resource_exhausted(
                        format!("this watcher fell {n} events behind; watch again"),
                    )),
                    Err(broadcast::error::RecvError::Closed) => {
                        Err(Status::unavailable("shutting down"))
                    }
                };
                let end = item.is_err();
                if tx.send(item).await.is_err() || end {
                    return;
                }
            }
        });
        Ok(ReceiverStream::new(rx))
    }
}

/// A published CloudEvent as WatchTasks sends it, with the task's owner.
fn to_task_event(payload: &[u8]) -> Option<(String, pb::TaskEvent)> {
    let cloud: CloudEvent = serde_json::from_slice(payload).ok()?;
    let kind = match EventKind::from_cloudevent_type(&cloud.kind)? {
        EventKind::Created => pb::TaskEventType::Created,
        EventKind::Updated => pb::TaskEventType::Updated,
        EventKind::Completed => pb::TaskEventType::Completed,
        EventKind::Deleted => pb::TaskEventType::Deleted,
        EventKind::Due => pb::TaskEventType::Due,
    };
    let time = |raw: &str| {
        chrono::DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|t| crate::grpc::convert::timestamp_out(t.to_utc()))
    };
    let event = pb::TaskEvent {
        event_id: cloud.id,
        r#type: kind.into(),
        task: Some(pb::Task::from(&cloud.data.task)),
        time: time(&cloud.time),
        reminder_time: cloud.data.reminder_time.as_deref().and_then(time),
    };
    Some((cloud.data.task.owner, event))
}
