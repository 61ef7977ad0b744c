//! Group commit: writes that arrive while earlier ones are being written
//! wait together and go to PostgreSQL in one transaction, one commit for
//! them all, and each caller still gets its own answer.
//!
//! No timer: a writer takes whatever is queued when it is free, so a lone
//! write goes at once (a batch of one, after one yield to the callers that
//! are already runnable) and batches grow only under load, when writes
//! would otherwise queue for the pool anyway.
//!
//! Each caller keeps its own answer and its own error because:
//! - a `Writer`'s batch gives, item by item, what writing each alone would;
//! - two items with the same `key` never share a batch (the second waits
//!   for the next), so they meet as two separate transactions would;
//! - if a batch fails, nothing of it was written (the writer's batch is one
//!   transaction) and each item is written again alone: a bad item fails
//!   only its own caller.
//!
//! Used by task-service's CreateTask and the notifier's webhook intake.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};
use tracing::{Instrument as _, Span};

/// What a group commit writes, batched and alone.
pub trait Writer: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Answer: Send + 'static;

    /// The `db.operation` of the batch's span.
    const OPERATION: &'static str;
    /// The histogram that records batch sizes.
    const BATCH_METRIC: &'static str;

    /// Writes `items` in one transaction: one answer per item, in order,
    /// or an error and nothing written.
    fn batch(
        &self,
        items: &[Self::Item],
    ) -> impl Future<Output = anyhow::Result<Vec<Self::Answer>>> + Send;

    /// Writes one item by itself (after its batch failed).
    fn alone(&self, item: &Self::Item)
        -> impl Future<Output = anyhow::Result<Self::Answer>> + Send;

    /// Items with the same key never share a batch.
    fn key(&self, _item: &Self::Item) -> Option<String> {
        None
    }
}

/// How many write at once and how much waits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Writers at once: each holds one pooled connection while it writes.
    pub writers: usize,
    /// The most items one batch writes.
    pub max_batch: usize,
    /// Items waiting for a writer; beyond this a caller waits to queue.
    pub queue: usize,
}

/// The item comes back with its answer (callers keep what they wrote).
type Answer<W> = oneshot::Sender<anyhow::Result<(<W as Writer>::Item, <W as Writer>::Answer)>>;

/// An item waiting: the item, its caller's span (the batch's transaction
/// belongs to the callers' traces), where to answer.
type Waiting<W> = (<W as Writer>::Item, Span, Answer<W>);

pub struct GroupCommit<W: Writer> {
    queue: mpsc::Sender<Waiting<W>>,
}

impl<W: Writer> Clone for GroupCommit<W> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<W: Writer> GroupCommit<W> {
    /// Starts `limits.writers` writers; they stop when every handle is
    /// dropped.
    pub fn start(writer: W, limits: Limits) -> Self {
        let (queue, receiver) = mpsc::channel(limits.queue.max(1));
        let shared = Arc::new(Mutex::new(Queue::<W> {
            receiver,
            held: None,
        }));
        let writer = Arc::new(writer);
        for _ in 0..limits.writers.max(1) {
            tokio::spawn(write(
                writer.clone(),
                shared.clone(),
                limits.max_batch.max(1),
            ));
        }
        Self { queue }
    }

    /// Writes `item` with whatever else is waiting; gives it back with its
    /// answer.
    pub async fn write(&self, item: W::Item) -> anyhow::Result<(W::Item, W::Answer)> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send((item, Span::current(), answer))
            .await
            .map_err(|_| anyhow::anyhow!("the {} writers have stopped", W::OPERATION))?;
        answered
            .await
            .map_err(|_| anyhow::anyhow!("a {} writer stopped before answering", W::OPERATION))?
    }
}

struct Queue<W: Writer> {
    receiver: mpsc::Receiver<Waiting<W>>,
    /// An item that could not join the last batch (its key was in it).
    held: Option<Waiting<W>>,
}

impl<W: Writer> Queue<W> {
    /// The next batch: waits for one item, then takes what else is queued.
    async fn next_batch(&mut self, writer: &W, max_batch: usize) -> Option<Vec<Waiting<W>>> {
        let first = match self.held.take() {
            Some(held) => held,
            None => self.receiver.recv().await?,
        };
        let mut keys: HashSet<String> = HashSet::new();
        let mut fits = |item: &W::Item| writer.key(item).is_none_or(|key| keys.insert(key));
        fits(&first.0);
        let mut batch = vec![first];
        let mut yielded = false;
        while batch.len() < max_batch {
            let next = match self.receiver.try_recv() {
                Ok(next) => next,
                // The first came alone: callers that arrived with it (hyper
                // spawns every request of one HTTP/2 read) are runnable but
                // behind this writer, which the first's send ran next
                // (tokio's LIFO slot); one yield lets them join. Measured
                // (h2load's paced CreateTask, 2,200/s in bursts, 2026-12-05,
                // alternating, 4 runs each): p50 3.3-3.8 against 4.0-4.5 ms,
                // p99 7.2-9.0 against 8.6-25.6 ms; closed loop unchanged.
                Err(mpsc::error::TryRecvError::Empty) if batch.len() == 1 && !yielded => {
                    yielded = true;
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(_) => break,
            };
            if !fits(&next.0) {
                self.held = Some(next);
                break;
            }
            batch.push(next);
        }
        Some(batch)
    }
}

async fn write<W: Writer>(writer: Arc<W>, queue: Arc<Mutex<Queue<W>>>, max_batch: usize) {
    loop {
        let Some(batch) = queue.lock().await.next_batch(&writer, max_batch).await else {
            return;
        };
        metrics::histogram!(W::BATCH_METRIC).record(batch.len() as f64);
        let mut items = Vec::with_capacity(batch.len());
        let mut spans = Vec::with_capacity(batch.len());
        let mut answers = Vec::with_capacity(batch.len());
        for (item, span, answer) in batch {
            items.push(item);
            spans.push(span);
            answers.push(answer);
        }
        // A child of the first caller's span, linked from the others'.
        let transaction = tracing::info_span!(
            parent: &spans[0],
            "sql transaction",
            otel.kind = "client",
            db.system = "postgresql",
            db.operation = W::OPERATION,
            batch = items.len(),
        );
        for other in &spans[1..] {
            transaction.follows_from(other);
        }
        let results: Vec<anyhow::Result<W::Answer>> =
            match writer.batch(&items).instrument(transaction).await {
                Ok(answers) if answers.len() == items.len() => {
                    answers.into_iter().map(Ok).collect()
                }
                Ok(answers) => {
                    // A writer's bug, not a caller's: say so to each.
                    let why = format!(
                        "{}: {} answers for {} items",
                        W::OPERATION,
                        answers.len(),
                        items.len()
                    );
                    items
                        .iter()
                        .map(|_| Err(anyhow::anyhow!(why.clone())))
                        .collect()
                }
                Err(e) if items.len() == 1 => vec![Err(e)],
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        batch = items.len(),
                        operation = W::OPERATION,
                        "a batch failed; writing each alone"
                    );
                    let mut results = Vec::with_capacity(items.len());
                    for (item, span) in items.iter().zip(&spans) {
                        results.push(writer.alone(item).instrument(span.clone()).await);
                    }
                    results
                }
            };
        for ((item, answer), result) in items.into_iter().zip(answers).zip(results) {
            let _ = answer.send(result.map(|answer| (item, answer)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex as StdMutex;

    /// Records each batch; fails a batch holding a "bad" item, and that
    /// item alone.
    struct Recorder {
        batches: StdMutex<Vec<Vec<String>>>,
        entered: AtomicUsize,
        gate: tokio::sync::Semaphore,
    }

    impl Default for Recorder {
        fn default() -> Self {
            Self {
                batches: StdMutex::default(),
                entered: AtomicUsize::new(0),
                gate: tokio::sync::Semaphore::new(0),
            }
        }
    }

    impl Writer for Arc<Recorder> {
        type Item = (String, Option<String>);
        type Answer = String;
        const OPERATION: &'static str = "test";
        const BATCH_METRIC: &'static str = "test_batch_size";

        async fn batch(&self, items: &[Self::Item]) -> anyhow::Result<Vec<String>> {
            self.entered.fetch_add(1, Ordering::SeqCst);
            let _permit = self.gate.acquire().await?;
            self.batches
                .lock()
                .unwrap()
                .push(items.iter().map(|i| i.0.clone()).collect());
            anyhow::ensure!(items.iter().all(|i| i.0 != "bad"), "a bad item");
            Ok(items.iter().map(|i| format!("wrote {}", i.0)).collect())
        }

        async fn alone(&self, item: &Self::Item) -> anyhow::Result<String> {
            anyhow::ensure!(item.0 != "bad", "a bad item");
            Ok(format!("alone {}", item.0))
        }

        fn key(&self, item: &Self::Item) -> Option<String> {
            item.1.clone()
        }
    }

    fn limits() -> Limits {
        Limits {
            writers: 1,
            max_batch: 8,
            queue: 64,
        }
    }

    /// Queues `items` in order while the writer is held at the first one's
    /// batch, then lets it go: what queued meanwhile forms the next batches.
    async fn write_all(
        items: Vec<(String, Option<String>)>,
    ) -> (Vec<anyhow::Result<String>>, Vec<Vec<String>>) {
        let recorder = Arc::new(Recorder::default());
        let commit = GroupCommit::start(recorder.clone(), limits());
        let mut calls = Vec::new();
        for (n, item) in items.into_iter().enumerate() {
            let call = {
                let commit = commit.clone();
                tokio::spawn(async move { commit.write(item).await })
            };
            calls.push(call);
            // The first taken by the writer, each other one queued behind.
            while recorder.entered.load(Ordering::SeqCst) == 0
                || commit.queue.capacity() > limits().queue - n
            {
                tokio::task::yield_now().await;
            }
        }
        recorder.gate.add_permits(100);
        let mut results = Vec::new();
        for call in calls {
            results.push(call.await.unwrap().map(|(_, answer)| answer));
        }
        let batches = recorder.batches.lock().unwrap().clone();
        (results, batches)
    }

    fn item(name: &str, key: Option<&str>) -> (String, Option<String>) {
        (name.to_owned(), key.map(str::to_owned))
    }

    #[tokio::test]
    async fn waiting_items_share_a_batch_and_each_gets_its_answer() {
        let (results, batches) =
            write_all((0..5).map(|i| item(&i.to_string(), None)).collect()).await;
        for (i, result) in results.iter().enumerate() {
            assert_eq!(result.as_ref().unwrap(), &format!("wrote {i}"));
        }
        // The first alone (taken before the others queued), the rest together.
        assert_eq!(batches.len(), 2, "{batches:?}");
        assert_eq!(batches[1].len(), 4, "{batches:?}");
    }

    /// Callers already runnable when the first came alone (hyper spawns
    /// every request of one HTTP/2 read) join its batch instead of waiting
    /// for the next. On a worker thread the first's send runs the writer
    /// next (tokio's LIFO slot), ahead of the callers queued behind it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn callers_on_their_way_join_a_first_that_came_alone() {
        let recorder = Arc::new(Recorder::default());
        recorder.gate.add_permits(100);
        let commit = GroupCommit::start(recorder.clone(), limits());
        // One task spawns the five, as a connection's read does: all five
        // are queued on the worker before the first runs.
        let calls = tokio::spawn(async move {
            (0..5)
                .map(|i| {
                    let commit = commit.clone();
                    tokio::spawn(async move { commit.write(item(&i.to_string(), None)).await })
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        // Without the yield: five batches of one, each send running the
        // writer at once.
        let mut batches = recorder.batches.lock().unwrap().clone();
        assert_eq!(batches.len(), 1, "{batches:?}");
        batches[0].sort();
        assert_eq!(batches[0], ["0", "1", "2", "3", "4"]);
    }

    #[tokio::test]
    async fn a_bad_item_fails_only_its_own_caller() {
        let (results, _) = write_all(vec![
            item("a", None),
            item("b", None),
            item("bad", None),
            item("c", None),
        ])
        .await;
        assert_eq!(results[0].as_ref().unwrap(), "wrote a");
        assert_eq!(results[1].as_ref().unwrap(), "alone b");
        assert!(results[2].is_err());
        assert_eq!(results[3].as_ref().unwrap(), "alone c");
    }

    #[tokio::test]
    async fn items_with_one_key_never_share_a_batch() {
        let (results, batches) = write_all(vec![
            item("first", None),
            item("x1", Some("x")),
            item("y", Some("y")),
            item("x2", Some("x")),
            item("z", None),
        ])
        .await;
        assert!(results.iter().all(Result::is_ok));
        for batch in &batches {
            assert!(
                !(batch.contains(&"x1".to_owned()) && batch.contains(&"x2".to_owned())),
                "{batches:?}"
            );
        }
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 5);
    }
}
