//! When to try again: exponential backoff with ±20 % jitter for retryable
//! errors, a provider's `Retry-After` honoured within bounds, and the fixed
//! 1, 4, 16, 64 s schedule for a recipient's pair rate limit (131056).

use std::time::Duration;

use rand::Rng;
use todogenie_common::backoff::backoff_between;

/// Largest delay between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(300);
/// 131056: retry that recipient after these, then give up.
pub(crate) const PAIR_SCHEDULE: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(16),
    Duration::from_secs(64),
];

/// The delay before retry number `failures` (1 for the first retry).
pub(crate) fn backoff(base: Duration, failures: u32, retry_after: Option<Duration>) -> Duration {
    let nominal = backoff_between(base, MAX_DELAY, failures);
    let jitter = rand::rng().random_range(0.8..=1.2);
    let delay = nominal.mul_f64(jitter);
    // The provider knows best how long to wait, within our bounds.
    match retry_after {
        Some(after) => delay.max(after.min(MAX_DELAY)),
        None => delay,
    }
}

/// The delay after the `streak`-th 131056 in a row, or `None` to give up.
pub(crate) fn pair_delay(streak: u32) -> Option<Duration> {
    PAIR_SCHEDULE.get(streak as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_respects_retry_after() {
        let base = Duration::from_secs(2);
        for failures in 1..=5 {
            let nominal = 2.0 * f64::from(1 << (failures - 1));
            let got = backoff(base, failures, None).as_secs_f64();
            assert!(
                got >= nominal * 0.8 - 1e-9 && got <= nominal * 1.2 + 1e-9,
                "{failures}: {got}"
            );
        }
        assert!(backoff(base, 40, None) <= MAX_DELAY.mul_f64(1.2));
        assert!(backoff(base, 1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
        assert_eq!(pair_delay(0), Some(Duration::from_secs(1)));
        assert_eq!(pair_delay(3), Some(Duration::from_secs(64)));
        assert_eq!(pair_delay(4), None);
    }
}
