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
pub(super) struct Policy {
    pub retry_base: Duration,
    pub max_attempts: u32,
    pub credential_probe: Duration,
    /// Whether an SMS fallback is configured.
    pub sms_fallback: bool,
}

/// What else a failure changes besides the notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SideEffect {
    None,
    /// 131056: nothing to this recipient before this time.
    PairLimited(DateTime<Utc>),
    /// 131050: the recipient opted out with Meta.
    OptOut,
    /// The provider refuses our credentials: stop sending.
    CredentialsRefused,
}

/// The batch's fate after a failed request (`requests` made for it so far).
pub(super) fn after_failure(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Contact, ContactSpec, Locale, Notification, NumberState, Pacing, PhoneNumber, UserId, Zone,
    };
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn policy(sms_fallback: bool) -> Policy {
        Policy {
            retry_base: Duration::from_secs(2),
            max_attempts: 3,
            credential_probe: Duration::from_secs(30),
            sms_fallback,
        }
    }

    fn batch(failures: i32, pair_limited: u32) -> Batch {
        let user = UserId::parse("ann").unwrap();
        Batch {
            contact: Contact {
                spec: ContactSpec {
                    user: user.clone(),
                    phone_number: PhoneNumber::parse("+14155550123").unwrap(),
                    zone: Zone::parse("UTC").unwrap(),
                    locale: Locale::parse("en").unwrap(),
                    whatsapp_opt_in: true,
                    quiet_hours: None,
                },
                number: NumberState {
                    confirmed: true,
                    stopped: false,
                },
                window_expire_time: None,
                pacing: Pacing {
                    next_send_time: now(),
                    pair_limited,
                },
                create_time: now(),
                update_time: now(),
            },
            notifications: vec![Notification {
                id: uuid::Uuid::now_v7(),
                user_id: user,
                task_id: uuid::Uuid::now_v7(),
                event_id: uuid::Uuid::now_v7(),
                reminder_time: now(),
                task_title: "Pay rent".into(),
                due_time: None,
                channel: Channel::WhatsApp,
                status: Status::Queued,
                batch_id: None,
                provider_message_id: None,
                attempts: failures + 1,
                failures,
                last_error: None,
                scheduled_time: now(),
                create_time: now(),
                update_time: now(),
                traceparent: None,
            }],
            channel: Channel::WhatsApp,
        }
    }

    fn error(class: ErrorClass, code: i64) -> SendError {
        SendError {
            class,
            code: Some(code),
            detail: "test".into(),
        }
    }

    #[test]
    fn a_retryable_error_waits_longer_each_time_then_gives_up_or_falls_back() {
        let retry = error(ErrorClass::Retryable { retry_after: None }, 131000);
        let (outcomes, effect) = after_failure(&policy(false), &batch(0, 0), &retry, 1, now());
        assert_eq!(effect, SideEffect::None);
        let first = &outcomes[0];
        assert_eq!(
            (first.status, first.failures, first.requests),
            (Status::Queued, 1, 1)
        );
        let wait = (first.scheduled_time - now()).num_milliseconds();
        assert!((1600..=2400).contains(&wait), "{wait} ms");
        assert_eq!(first.last_error.as_deref(), Some("131000: test"));

        let (last, _) = after_failure(&policy(false), &batch(2, 0), &retry, 1, now());
        assert_eq!(last[0].status, Status::Failed);
        let (sms, _) = after_failure(&policy(true), &batch(2, 0), &retry, 1, now());
        assert_eq!(
            (sms[0].status, sms[0].channel, sms[0].failures),
            (Status::Queued, Channel::Sms, 0)
        );
        assert!(sms[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("falling back to SMS"));
    }

    #[test]
    fn a_pair_rate_limit_follows_its_schedule_for_that_recipient() {
        let limited = error(ErrorClass::PairRateLimited, 131056);
        let (outcomes, effect) = after_failure(&policy(false), &batch(0, 1), &limited, 1, now());
        let until = now() + chrono::Duration::seconds(4);
        assert_eq!(effect, SideEffect::PairLimited(until));
        assert_eq!(
            (outcomes[0].status, outcomes[0].scheduled_time),
            (Status::Queued, until)
        );
        let (gave_up, effect) = after_failure(&policy(false), &batch(0, 4), &limited, 1, now());
        assert_eq!(effect, SideEffect::None);
        assert_eq!(gave_up[0].status, Status::Failed);
    }

    #[test]
    fn opt_outs_and_refused_credentials_change_more_than_the_notification() {
        let (outcomes, effect) = after_failure(
            &policy(true),
            &batch(0, 0),
            &error(ErrorClass::OptedOut, 131050),
            1,
            now(),
        );
        assert_eq!(effect, SideEffect::OptOut);
        assert_eq!(outcomes[0].status, Status::Failed);
        let (outcomes, effect) = after_failure(
            &policy(false),
            &batch(1, 0),
            &error(ErrorClass::Credentials, 190),
            1,
            now(),
        );
        assert_eq!(effect, SideEffect::CredentialsRefused);
        // A pause for credentials does not count towards the retry limit.
        assert_eq!(
            (outcomes[0].status, outcomes[0].failures),
            (Status::Queued, 1)
        );
        assert_eq!(
            outcomes[0].scheduled_time,
            now() + chrono::Duration::seconds(30)
        );
    }
}
