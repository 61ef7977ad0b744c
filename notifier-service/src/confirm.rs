//! Asking a number to confirm (CONTRACT §5, "The number confirms"): each
//! request UpsertContact queued goes out once, as the approved template or,
//! inside the 24-hour window, as Yes/No buttons; paced like every message to
//! that number and under the global rate. A request is claimed with a
//! lease; a crash delays it, a provider that keeps failing gives it up after
//! a few tries (the next UpsertContact after 24 hours asks again).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use todogenie_common::backoff::backoff_between;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::delivery::{RateLimiter, RECIPIENT_GAP};
use crate::providers::{ErrorClass, Message, Provider, CONFIRM_NO, CONFIRM_YES};
use crate::store::contacts;
use crate::store::numbers::{self, Request};

const BATCH: i64 = 50;
const LEASE: Duration = Duration::from_secs(30);
/// Tries per request before it is given up.
const MAX_TRIES: i32 = 5;

#[derive(Clone)]
pub(crate) struct Confirmer {
    pub pool: PgPool,
    pub provider: Arc<dyn Provider>,
    pub limiter: Arc<RateLimiter>,
    pub wake: Arc<Notify>,
}

/// The request, as buttons inside the window or the template outside it.
pub(crate) fn message(user: &str, window_open: bool) -> Message {
    if window_open {
        Message::ConfirmButtons {
            body: format!(
                "TodoGenie: may we send reminders for {user} to this number? \
                 Tap Yes or No (or reply START or STOP)."
            ),
            yes_id: CONFIRM_YES.into(),
            no_id: CONFIRM_NO.into(),
        }
    } else {
        Message::ConfirmTemplate {
            user: user.to_owned(),
            yes_payload: CONFIRM_YES.into(),
            no_payload: CONFIRM_NO.into(),
        }
    }
}

impl Confirmer {
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let wake = self.wake.clone();
        crate::rounds::run(
            "confirmation",
            Duration::from_secs(1),
            &wake,
            &shutdown,
            || self.run_once(),
        )
        .await;
    }

    /// Sends the requests that are due; how many it took.
    pub(crate) async fn run_once(&self) -> anyhow::Result<usize> {
        let claimed = numbers::claim_requests(&self.pool, BATCH, LEASE).await?;
        for request in &claimed {
            self.send(request).await?;
        }
        Ok(claimed.len())
    }

    async fn send(&self, request: &Request) -> anyhow::Result<()> {
        let number = &request.number;
        if let Some(free) =
            contacts::reserve_slot_by_number(&self.pool, number, RECIPIENT_GAP).await?
        {
            return numbers::request_retry(&self.pool, number, free).await;
        }
        let message = message(&request.user, request.window_open);
        let permit = self.limiter.acquire().await;
        let answer = self.provider.send(number, &message).await;
        drop(permit);
        match answer {
            Ok(_) => {
                metrics::counter!("confirmation_requests_total", "result" => "sent").increment(1);
                numbers::request_done(&self.pool, number).await
            }
            Err(e) => {
                // Outside the window: the next try sends the template.
                let retryable = matches!(
                    e.class,
                    ErrorClass::Retryable { .. }
                        | ErrorClass::PairRateLimited
                        | ErrorClass::OutsideWindow
                );
                tracing::warn!(to = %number.masked(), error = %e, "cannot ask a number to confirm");
                if retryable && request.attempts < MAX_TRIES {
                    let wait = backoff_between(
                        Duration::from_secs(2),
                        Duration::from_secs(300),
                        u32::try_from(request.attempts).unwrap_or(u32::MAX),
                    );
                    let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    numbers::request_retry(&self.pool, number, at).await
                } else {
                    metrics::counter!("confirmation_requests_total", "result" => "given_up")
                        .increment(1);
                    numbers::request_done(&self.pool, number).await
                }
            }
        }
    }
}
