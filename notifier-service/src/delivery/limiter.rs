//! The global send rate (`WHATSAPP_MAX_MPS`): every request takes the next
//! free slot, slots `1/rate` apart. No bursts: the Cloud API counts
//! throughput per second, and a burst at the top of a second is what earns a
//! 130429.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub(crate) struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

/// Network jitter can bunch requests that left us evenly spaced; aiming 2 %
/// under the limit keeps every one-second window at the provider under it.
const HEADROOM: f64 = 0.98;

impl RateLimiter {
    pub(crate) fn per_second(rate: u32) -> Self {
        let rate = f64::from(rate.max(1)) * HEADROOM;
        Self {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this caller's slot.
    pub(crate) async fn acquire(&self) {
        let slot = {
            let mut next = self
                .next
                .lock()
                .expect("the limiter's lock is never poisoned");
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_by_the_rate_without_a_burst() {
        let limiter = RateLimiter::per_second(100);
        let start = Instant::now();
        for _ in 0..50 {
            limiter.acquire().await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        // 49 gaps of 1/98 s.
        assert!((elapsed - 49.0 / 98.0).abs() < 0.01, "{elapsed}");
    }
}
