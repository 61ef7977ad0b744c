//! The loop of a worker that works in rounds (acting on webhooks, asking
//! numbers to confirm): a round that did work is followed at once by the
//! next; one that found nothing waits for its wake-up or `idle`; one that
//! failed is logged and retried after a second. Stops at shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Runs `round` (how many items it handled) until `shutdown`.
pub(crate) async fn run<F, Fut>(
    what: &'static str,
    idle: Duration,
    wake: &Notify,
    shutdown: &CancellationToken,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    loop {
        let wait = match round().await {
            Ok(0) => idle,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "{what} round failed");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}
