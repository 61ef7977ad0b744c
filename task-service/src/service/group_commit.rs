//! Group commit for CreateTask: calls that arrive while earlier ones are
//! being written wait together and go to PostgreSQL as one statement in one
//! transaction (`store::create::insert_batch`), one commit for them all.
//!
//! No timer: a writer takes whatever is queued when it is free, so a lone
//! call is written at once (a batch of one) and batches grow only under
//! load, when calls would otherwise queue for the pool anyway.
//!
//! Why each caller still gets its own answer and its own error:
//! - The statement gives, row by row, what `insert_new` would have: the
//!   request id's claim, the series' uniqueness and the outbox row are per
//!   row inside it, and an answer is sent only after the commit.
//! - Two calls with the same (owner, request id) never share a batch (the
//!   second waits for the next), so the claim meets the first's row exactly
//!   as two separate transactions would.
//! - If the batch's statement fails, nothing of it was written (one
//!   statement is atomic) and each call is written again alone: a bad or
//!   conflicting row fails only its own call.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};
use tracing::{Instrument as _, Span};

use crate::domain::Task;
use crate::store::create::{insert_batch, NewTask};
use crate::store::tasks::{insert_new, RequestKey};

/// The most calls one statement writes: beyond this the statement's
/// parameters grow without saving more commits (task-bench: batches average
/// 8–12 at 32 streams).
pub(crate) const MAX_BATCH: usize = 64;
/// Writers at once: each holds one pooled connection while it writes.
const WRITERS: usize = 4;
/// Calls waiting for a writer; beyond this a caller waits to queue (the
/// gRPC server's own concurrency limit bounds the callers).
const QUEUE: usize = 1024;

/// Where a call's task comes back, with whether it was inserted.
type Answer = oneshot::Sender<anyhow::Result<(Task, bool)>>;

/// A call waiting to be written: its writes, its caller's span (the batch's
/// `sql transaction` belongs to the callers' traces), where to answer.
type Waiting = (NewTask, Span, Answer);

#[derive(Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Waiting>,
}

impl GroupCommit {
    /// Starts the writers on `pool`; they stop when every handle is dropped.
    pub(crate) fn start(pool: PgPool) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let shared = Arc::new(Mutex::new(Queue {
            receiver,
            held: None,
        }));
        for _ in 0..WRITERS {
            tokio::spawn(write(pool.clone(), shared.clone()));
        }
        Self { queue }
    }

    /// Writes `new` with whatever else is waiting; gives its task back with
    /// whether it was inserted, as `insert_new` says.
    pub(crate) async fn insert(&self, new: NewTask) -> anyhow::Result<(Task, bool)> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send((new, Span::current(), answer))
            .await
            .map_err(|_| anyhow::anyhow!("the task writers have stopped"))?;
        answered
            .await
            .map_err(|_| anyhow::anyhow!("a task writer stopped before answering"))?
    }
}

struct Queue {
    receiver: mpsc::Receiver<Waiting>,
    /// A call that could not join the last batch (its request id was in it).
    held: Option<Waiting>,
}

impl Queue {
    /// The next batch: waits for one call, then takes what else is queued.
    async fn next_batch(&mut self) -> Option<Vec<Waiting>> {
        let first = match self.held.take() {
            Some(held) => held,
            None => self.receiver.recv().await?,
        };
        let mut requests: HashSet<(String, String)> = HashSet::new();
        let mut remember = |new: &NewTask| match new.request() {
            Some((owner, id)) => requests.insert((owner.to_owned(), id.to_owned())),
            None => true,
        };
        remember(&first.0);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let Ok(next) = self.receiver.try_recv() else {
                break;
            };
            if !remember(&next.0) {
                self.held = Some(next);
                break;
            }
            batch.push(next);
        }
        Some(batch)
    }
}

async fn write(pool: PgPool, queue: Arc<Mutex<Queue>>) {
    loop {
        let Some(batch) = queue.lock().await.next_batch().await else {
            return;
        };
        metrics::histogram!("task_create_batch_size").record(batch.len() as f64);
        let mut news = Vec::with_capacity(batch.len());
        let mut spans = Vec::with_capacity(batch.len());
        let mut answers = Vec::with_capacity(batch.len());
        for (new, span, answer) in batch {
            news.push(new);
            spans.push(span);
            answers.push(answer);
        }
        // A child of the first caller's span, linked from the others'.
        let transaction = tracing::info_span!(
            parent: &spans[0],
            "sql transaction",
            otel.kind = "client",
            db.system = "postgresql",
            db.operation = "insert_batch",
            batch = news.len(),
        );
        for other in &spans[1..] {
            transaction.follows_from(other);
        }
        let results: Vec<anyhow::Result<bool>> =
            match insert_batch(&pool, &news).instrument(transaction).await {
                Ok(inserted) => inserted.into_iter().map(Ok).collect(),
                Err(e) if news.len() == 1 => vec![Err(e)],
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        batch = news.len(),
                        "a batch of CreateTasks failed; writing each alone"
                    );
                    let mut results = Vec::with_capacity(news.len());
                    for (new, span) in news.iter().zip(&spans) {
                        results.push(alone(&pool, new).instrument(span.clone()).await);
                    }
                    results
                }
            };
        for ((new, answer), result) in news.into_iter().zip(answers).zip(results) {
            let _ = answer.send(result.map(|inserted| (new.task, inserted)));
        }
    }
}

/// One call written by itself, as before group commit.
async fn alone(pool: &PgPool, new: &NewTask) -> anyhow::Result<bool> {
    let key = new.key.as_ref().map(|(id, hash)| RequestKey {
        request_id: id,
        request_hash: hash,
    });
    insert_new(pool, &new.task, &new.fire_times, key, &new.created).await
}
