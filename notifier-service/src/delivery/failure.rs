//! The failure policy: after a provider refused or failed a request, what
//! becomes of each notification of the batch (retried later, moved to SMS,
//! given up), and what else must change (the recipient's pair-rate streak,
//! its opt-out, the credential breaker). Pure: the engine applies the
//! side effect.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::plan::{settle, Batch};
use super::retry;
use crate::domain::{Channel, Notification, Status};
use crate::providers::{ErrorClass, SendError};
use crate::store::notifications::Outcome;

/// What the policy needs to know of the engine's settings.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub retry_base: Duration,
    pub max_attempts: u32,
    pub credential_probe: Duration,
    /// Whether an SMS fallback is configured.
    pub sms_fallback: bool,
}

/// What else a failure changes besides the notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideEffect {
    None,
    /// 131056: nothing to this recipient before this time.
    PairLimited(DateTime<Utc>),
    /// 131050: the recipient opted out with Meta.
    OptOut,
    /// The provider refuses our credentials: stop sending.
    CredentialsRefused,
}

/// The batch's fate after a failed request (`requests` made for it so far).
pub fn after_failure(
    policy: &Policy,
    batch: &Batch,
    error: &SendError,
    requests: i32,
    now: DateTime<Utc>,
) -> (Vec<Outcome>, SideEffect) {
    let described = error.describe();
    let each = |f: &dyn Fn(&Notification) -> Outcome| -> Vec<Outcome> {
        batch.notifications.iter().map(f).collect()
    };
    match error.class {
        ErrorClass::Retryable { retry_after } => {
            let outcomes = each(&|n| {
                let failures = n.failures + 1;
                if failures >= i32::try_from(policy.max_attempts).unwrap_or(i32::MAX) {
                    return give_up(policy, batch.channel, n, &described, requests, now);
                }
                let delay = retry::backoff(
                    policy.retry_base,
                    u32::try_from(failures).unwrap_or(u32::MAX),
                    retry_after,
                );
                Outcome {
                    failures,
                    requests,
                    ..settle(n, Status::Queued, Some(described.clone()), now + delay)
                }
            });
            (outcomes, SideEffect::None)
        }
        ErrorClass::PairRateLimited => match retry::pair_delay(batch.pair_streak()) {
            Some(delay) => {
                let until = now + chrono::Duration::from_std(delay).unwrap_or_default();
                let outcomes = each(&|n| Outcome {
                    requests,
                    ..settle(n, Status::Queued, Some(described.clone()), until)
                });
                (outcomes, SideEffect::PairLimited(until))
            }
            None => (
                give_up_all(policy, batch, &described, requests, now),
                SideEffect::None,
            ),
        },
        ErrorClass::OptedOut => {
            let why = format!("{described}; contact opted out");
            let outcomes = each(&|n| Outcome {
                requests,
                ..settle(n, Status::Failed, Some(why.clone()), now)
            });
            (outcomes, SideEffect::OptOut)
        }
        ErrorClass::Credentials => {
            // Such a pause does not count towards the retry limit.
            let retry =
                now + chrono::Duration::from_std(policy.credential_probe).unwrap_or_default();
            let outcomes = each(&|n| Outcome {
                requests,
                ..settle(n, Status::Queued, Some(described.clone()), retry)
            });
            (outcomes, SideEffect::CredentialsRefused)
        }
        ErrorClass::OutsideWindow | ErrorClass::Permanent => (
            give_up_all(policy, batch, &described, requests, now),
            SideEffect::None,
        ),
    }
}

fn give_up_all(
    policy: &Policy,
    batch: &Batch,
    why: &str,
    requests: i32,
    now: DateTime<Utc>,
) -> Vec<Outcome> {
    batch
        .notifications
        .iter()
        .map(|n| give_up(policy, batch.channel, n, why, requests, now))
        .collect()
}

/// FAILED, or on to SMS where that fallback is configured.
fn give_up(
    policy: &Policy,
    channel: Channel,
    notification: &Notification,
    why: &str,
    requests: i32,
    now: DateTime<Utc>,
) -> Outcome {
    if channel == Channel::WhatsApp && policy.sms_fallback {
        return Outcome {
            channel: Channel::Sms,
            failures: 0,
            requests,
            ..settle(
                notification,
                Status::Queued,
                Some(format!("whatsapp {why}; falling back to SMS")),
                now,
            )
        };
    }
    let prefix = if channel == Channel::Sms { "sms " } else { "" };
    Outcome {
        requests,
        ..settle(
            notification,
            Status::Failed,
            Some(format!("{prefix}{why}")),
            now,
        )
    }
}
