//! Waking the relay and the scheduler when there is work. Inside a process a
//! watch channel does it at once; other replicas hear a PostgreSQL NOTIFY that
//! is coalesced to at most one per channel every 50 ms. (A NOTIFY in every
//! writing transaction serialises commits on PostgreSQL's notification queue:
//! measured, it halves CreateTask's throughput.) Anything else that writes
//! reminders or events (a script, another tool) sends the NOTIFY itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

pub const OUTBOX_CHANNEL: &str = "todogenie_outbox";
pub const SCHEDULE_CHANNEL: &str = "todogenie_schedule";
/// The longest a NOTIFY to other replicas waits, gathering more changes.
const COALESCE: Duration = Duration::from_millis(50);

/// One kind of work: a local signal plus a pending cross-replica NOTIFY.
#[derive(Clone)]
struct Signal {
    local: Arc<watch::Sender<u64>>,
    remote_pending: Arc<AtomicBool>,
}

impl Signal {
    fn new() -> Self {
        Self {
            local: Arc::new(watch::channel(0).0),
            remote_pending: Arc::new(AtomicBool::new(false)),
        }
    }

    fn raise(&self, send: &Notify) {
        self.local.send_modify(|n| *n = n.wrapping_add(1));
        if !self.remote_pending.swap(true, Ordering::SeqCst) {
            send.notify_one();
        }
    }
}

#[derive(Clone)]
pub struct Wake {
    outbox: Signal,
    schedule: Signal,
    send: Arc<Notify>,
}

impl Wake {
    /// Starts the task that sends the coalesced NOTIFYs.
    pub fn start(pool: PgPool, shutdown: CancellationToken) -> Self {
        let wake = Self {
            outbox: Signal::new(),
            schedule: Signal::new(),
            send: Arc::new(Notify::new()),
        };
        tokio::spawn(wake.clone().send_notifies(pool, shutdown));
        wake
    }

    /// Events were committed to the outbox.
    pub fn outbox_written(&self) {
        self.outbox.raise(&self.send);
    }

    /// Reminders or recurring due times may have moved earlier.
    pub fn schedule_changed(&self) {
        self.schedule.raise(&self.send);
    }

    async fn send_notifies(self, pool: PgPool, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.send.notified() => {}
            }
            tokio::time::sleep(COALESCE).await;
            for (signal, channel) in [
                (&self.outbox, OUTBOX_CHANNEL),
                (&self.schedule, SCHEDULE_CHANNEL),
            ] {
                if signal.remote_pending.swap(false, Ordering::SeqCst) {
                    if let Err(e) = sqlx::query!("SELECT pg_notify($1, '')", channel)
                        .execute(&pool)
                        .await
                    {
                        tracing::debug!(error = %e, channel, "cannot NOTIFY other replicas");
                    }
                }
            }
        }
    }

    pub async fn outbox_waiter(&self, pool: &PgPool) -> Waiter {
        Waiter::new(pool, OUTBOX_CHANNEL, self.outbox.local.subscribe()).await
    }

    pub async fn schedule_waiter(&self, pool: &PgPool) -> Waiter {
        Waiter::new(pool, SCHEDULE_CHANNEL, self.schedule.local.subscribe()).await
    }
}

/// What a worker waits on between rounds: local writes, other replicas'
/// NOTIFYs, a timeout, or shutdown.
pub struct Waiter {
    local: watch::Receiver<u64>,
    listener: Option<PgListener>,
}

impl Waiter {
    async fn new(pool: &PgPool, channel: &str, local: watch::Receiver<u64>) -> Self {
        let listener = match listen(pool, channel).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    channel,
                    "cannot LISTEN; polling instead"
                );
                None
            }
        };
        Self { local, listener }
    }

    /// Marks everything signalled so far as seen: call before looking for work.
    pub fn mark_seen(&mut self) {
        self.local.borrow_and_update();
    }

    /// Returns on a signal newer than the last `mark_seen`, a NOTIFY,
    /// `timeout`, or shutdown.
    pub async fn wait(&mut self, timeout: Duration, shutdown: &CancellationToken) {
        let remote = async {
            match self.listener.as_mut() {
                Some(listener) => {
                    if let Err(e) = listener.recv().await {
                        // sqlx reconnects on the next recv; don't spin meanwhile.
                        tracing::debug!(error = %e, "LISTEN connection dropped");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(timeout) => {}
            _ = self.local.changed() => {}
            () = remote => {}
        }
    }
}

async fn listen(pool: &PgPool, channel: &str) -> anyhow::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}
