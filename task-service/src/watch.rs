//! WatchTasks' feed. While anyone watches, a replica consumes every published
//! event from an exclusive, server-named queue bound to `task.#` (so it sees
//! the events of every replica, committed ones only) and fans them out to its
//! watchers through a broadcast channel. A watcher that falls behind, or a feed that
//! was interrupted (its queue goes with its connection), ends the stream
//! with an error instead of silently skipping events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use todogenie_proto::v1 as pb;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::auth::Caller;
use crate::events::{CloudEvent, EventKind};
use todogenie_common::amqp::{self, bind_private_queue};
use todogenie_common::backoff::backoff;

/// Events buffered per watcher before it counts as too slow.
const WATCHER_BUFFER: usize = 4096;
/// How often a consuming hub checks whether anyone still watches.
const IDLE_CHECK: Duration = Duration::from_secs(10);
/// How long a new watcher waits for the feed to go live.
const LIVE_WAIT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
enum Feed {
    Event {
        owner: String,
        event: Arc<pb::TaskEvent>,
    },
    Interrupted,
}

#[derive(Clone)]
pub(crate) struct WatchHub {
    inner: Arc<Hub>,
}

struct Hub {
    feed: broadcast::Sender<Feed>,
    /// True while the queue is bound and consumed: nothing published since
    /// is missed.
    live: watch::Sender<bool>,
    /// Whether a consumer task runs; taken with a watcher's subscription so
    /// the consumer never stops under a new watcher.
    running: Mutex<bool>,
    amqp_url: String,
    exchange: String,
    /// Open streams end when the service shuts down.
    shutdown: CancellationToken,
}

impl WatchHub {
    /// A hub that consumes only while someone watches: a replica with no
    /// watchers costs the broker nothing per event.
    pub(crate) fn start(amqp_url: String, exchange: String, shutdown: CancellationToken) -> Self {
        let (feed, _) = broadcast::channel(WATCHER_BUFFER);
        Self {
            inner: Arc::new(Hub {
                feed,
                live: watch::channel(false).0,
                running: Mutex::new(false),
                amqp_url,
                exchange,
                shutdown,
            }),
        }
    }
}

impl Hub {
    /// Consumes, reconnecting with backoff, until shutdown or until nobody
    /// has watched for an idle check.
    async fn consume(self: Arc<Self>) {
        let mut failures = 0u32;
        loop {
            let result = tokio::select! {
                () = self.shutdown.cancelled() => Ok(()),
                result = self.consume_once() => result,
            };
            if self.live.send_replace(false) {
                let _ = self.feed.send(Feed::Interrupted);
            }
            match result {
                Ok(()) if self.shutdown.is_cancelled() => break,
                Ok(()) => {
                    // Idle: stop, unless a watcher arrived meanwhile.
                    let mut running = self.running.lock().expect("not poisoned");
                    if self.feed.receiver_count() == 0 {
                        *running = false;
                        return;
                    }
                    failures = 0;
                    continue;
                }
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "WatchTasks feed interrupted; reconnecting"
                ),
            }
            failures += 1;
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                () = tokio::time::sleep(backoff(failures)) => {}
            }
        }
        *self.running.lock().expect("not poisoned") = false;
    }

    /// One connection's worth of consuming. `Ok` when nobody watched at an
    /// idle check.
    async fn consume_once(&self) -> anyhow::Result<()> {
        let exchange = self.exchange.as_str();
        let name = format!("task-service watch {exchange}");
        // This replica's private copy of the stream, gone with the connection.
        // no_ack: a live view, nothing to redeliver once the queue is gone.
        let (connection, _channel, mut consumer) =
            amqp::connect_with(&self.amqp_url, &name, async |channel| {
                let queue = bind_private_queue(channel, exchange, "task.#").await?;
                let options = BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                };
                let consumer = channel
                    .basic_consume(queue, "watch".into(), options, FieldTable::default())
                    .await?;
                anyhow::Ok(consumer)
            })
            .await?;
        self.live.send_replace(true);
        let mut idle_check = tokio::time::interval(IDLE_CHECK);
        idle_check.tick().await;
        loop {
            tokio::select! {
                _ = idle_check.tick() => {
                    if self.feed.receiver_count() == 0 {
                        amqp::close(&connection, "no watchers").await;
                        return Ok(());
                    }
                }
                delivery = consumer.next() => {
                    let Some(delivery) = delivery else { anyhow::bail!("the consumer ended") };
                    let delivery = delivery?;
                    match to_task_event(&delivery.data) {
                        // No receivers is fine: the last watcher just left.
                        Some((owner, event)) => {
                            let _ = self.feed.send(Feed::Event { owner, event: Arc::new(event) });
                        }
                        None => tracing::warn!("WatchTasks feed skipped a message that is not a task event"),
                    }
                }
            }
        }
    }
}

impl WatchHub {
    /// A stream of the events `caller` may see (admin and service: all).
    /// It starts once the feed is live (consuming), so it misses nothing
    /// published from then on.
    pub(crate) async fn subscribe(
        &self,
        caller: &Caller,
    ) -> Result<ReceiverStream<Result<pb::TaskEvent, Status>>, Status> {
        let hub = &self.inner;
        let mut feed = {
            let mut running = hub.running.lock().expect("not poisoned");
            let feed = hub.feed.subscribe();
            if !*running {
                *running = true;
                tokio::spawn(hub.clone().consume());
            }
            feed
        };
        let mut live = hub.live.subscribe();
        if tokio::time::timeout(LIVE_WAIT, live.wait_for(|up| *up))
            .await
            .is_err()
        {
            return Err(Status::unavailable(
                "the event feed cannot reach RabbitMQ; try again",
            ));
        }
        let (tx, rx) = mpsc::channel(64);
        let caller = caller.clone();
        let shutdown = hub.shutdown.clone();
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
    let cloud = CloudEvent::from_json(payload).ok()?;
    let kind = match cloud.event_kind()? {
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
