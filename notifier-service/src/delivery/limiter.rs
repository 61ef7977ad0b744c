//! The account's send rate (`WHATSAPP_MAX_MPS`), this replica's share of it
//! (`share` sets it): every request takes the next free slot, slots
//! `1/rate` apart. No bursts: the Cloud API counts throughput per second,
//! and a burst at the top of a second is what earns a 130429.
//!
//! A share holds from `start` until `until`: a slot is never given outside
//! that span, so a replica whose heartbeats stop stops sending before the
//! others count it dead and take its part.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Network jitter can bunch requests that left us evenly spaced; aiming 1 %
/// under the limit keeps every one-second window at the provider under it
/// (notifier-bench: 0 × 130429 at 0.99, both at 1,000/s and shared by two
/// replicas).
const HEADROOM: f64 = 0.99;

/// How long a waiter without a usable share sleeps before looking again,
/// unless a new share wakes it first.
const RECHECK: Duration = Duration::from_millis(100);

pub(crate) struct RateLimiter {
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    /// `None`: no share yet (or it ran out).
    interval: Option<Duration>,
    start: Instant,
    until: Instant,
    next: Instant,
}

impl RateLimiter {
    /// A limiter with no share: nothing is sent until `set` gives one.
    pub(crate) fn paused() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(State {
                interval: None,
                start: now,
                until: now,
                next: now,
            }),
            changed: Notify::new(),
        }
    }

    /// A limiter at `rate` per second for good (tests and tools).
    #[cfg(test)]
    pub(crate) fn per_second(rate: f64) -> Self {
        let limiter = Self::paused();
        let now = Instant::now();
        limiter.set(rate, now, now + Duration::from_secs(1 << 30));
        limiter
    }

    /// `rate` messages per second (before headroom), from `start` until
    /// `until`. Slots already given keep their times.
    pub(crate) fn set(&self, rate: f64, start: Instant, until: Instant) {
        {
            let mut state = self.state.lock().expect("never poisoned");
            state.interval = Some(Duration::from_secs_f64(1.0 / (rate.max(0.01) * HEADROOM)));
            state.start = start;
            state.until = until;
            state.next = state.next.max(start);
        }
        self.changed.notify_waiters();
    }

    /// Gives no more slots (those given keep their times).
    pub(crate) fn pause(&self) {
        self.state.lock().expect("never poisoned").interval = None;
    }

    /// Waits for this caller's slot.
    pub(crate) async fn acquire(&self) {
        loop {
            let changed = self.changed.notified();
            if let Some(slot) = self.reserve() {
                tokio::time::sleep_until(slot).await;
                return;
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(RECHECK) => {}
            }
        }
    }

    /// The next free slot within the share's span, if there is one.
    fn reserve(&self) -> Option<Instant> {
        let mut state = self.state.lock().expect("never poisoned");
        let interval = state.interval?;
        let slot = state.next.max(Instant::now()).max(state.start);
        if slot >= state.until {
            return None;
        }
        state.next = slot + interval;
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_by_the_rate_without_a_burst() {
        let limiter = RateLimiter::per_second(100.0);
        let start = Instant::now();
        for _ in 0..50 {
            limiter.acquire().await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        // 49 gaps of 1/99 s.
        assert!((elapsed - 49.0 / 99.0).abs() < 0.01, "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_slot_is_given_before_a_share_starts_or_after_it_ends() {
        let limiter = std::sync::Arc::new(RateLimiter::paused());
        let t0 = Instant::now();
        let waiter = {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter.acquire().await;
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiter.is_finished(), "a paused limiter gives no slot");
        limiter.set(
            10.0,
            t0 + Duration::from_secs(7),
            t0 + Duration::from_secs(8),
        );
        let sent = waiter.await.unwrap();
        assert!(sent >= t0 + Duration::from_secs(7), "{:?}", sent - t0);
        // About ten slots fit in the one second the share lasts; then none.
        let mut given = 1;
        while tokio::time::timeout(Duration::from_secs(3), limiter.acquire())
            .await
            .is_ok()
        {
            given += 1;
        }
        assert!((9..=11).contains(&given), "{given} slots");
        assert!(Instant::now() >= t0 + Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn a_smaller_share_spaces_the_slots_wider() {
        let limiter = RateLimiter::per_second(100.0);
        limiter.acquire().await;
        let now = Instant::now();
        limiter.set(10.0, now, now + Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire().await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        // The slot given at 100/s, then ten gaps of 1/9.9 s.
        assert!(elapsed > 0.95 && elapsed < 1.1, "{elapsed}");
    }
}
