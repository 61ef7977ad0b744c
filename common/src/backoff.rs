//! The one backoff every reconnect and retry loop in both services waits by:
//! a first delay doubling up to a cap (the notifier's provider retries add
//! jitter on top).

use std::time::Duration;

/// How long to wait after the `failures`-th failure in a row: `first`
/// doubling, at most `cap`.
pub fn backoff_between(first: Duration, cap: Duration, failures: u32) -> Duration {
    first
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(cap)
}

/// Reconnects and database retries: 200 ms doubling to 5 s, quick after a
/// blip and gentle during an outage.
pub fn backoff(failures: u32) -> Duration {
    backoff_between(Duration::from_millis(200), Duration::from_secs(5), failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let ms = |n| backoff(n).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(5), ms(50)],
            [200, 400, 800, 3200, 5000]
        );
        let relay = |n| backoff_between(Duration::from_secs(1), Duration::from_secs(60), n);
        assert_eq!(relay(1), Duration::from_secs(1));
        assert_eq!(relay(7), Duration::from_secs(60));
        assert_eq!(relay(u32::MAX), Duration::from_secs(60));
    }
}
