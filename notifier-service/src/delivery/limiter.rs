//! The account's send rate (`WHATSAPP_MAX_MPS`), this replica's share of it
//! (`share` sets it): every request takes the next free slot, slots
//! `1/rate` apart. No bursts: the Cloud API counts throughput per second,
//! and a burst at the top of a second is what earns a 130429.
//!
//! A share holds from `start` until `until`: a slot is never given outside
//! that span, so a replica whose heartbeats stop stops sending before the
//! others count it dead and take its part.
//!
//! Spacing alone is not enough: a stall of 30 ms anywhere between a slot
//! and the provider's clock (our runtime, the network, the provider's own
//! intake) moves 30 slots' requests into the next second of the provider's
//! count, on top of that second's own (notifier-bench: up to 100 × 130429
//! per 20,000 at 98 % of the limit). The provider counts a request at some
//! moment between our sending it and its answer; so the limiter counts, as
//! the provider may, every request not yet answered or answered within the
//! last second, and gives no slot while that count is at the limit. A
//! caller holds a [`Permit`] for as long as its request is out.
//!
//! That count is the provider's own rule in the worst case (whenever the
//! provider counted each request, the last of any second's requests took
//! its slot while all the others were still counted here), so the slots
//! are spaced at the full limit, with no headroom: notifier-bench, 20,000
//! at once at 1,000/s, alternating, 988–994 messages/s and lag beyond the
//! limit p99 0.67–0.79 s against 974–980/s and 0.93–1.08 s with 2 %
//! headroom, 0 × 130429 in either (with two CPU hogs beside it: 980/s
//! against 948/s, still 0). Only a stall costs throughput now: the slots
//! it takes from the count are given up (`send_slots_retaken_total`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a waiter without a usable share sleeps before looking again,
/// unless a new share wakes it first.
const RECHECK: Duration = Duration::from_millis(100);

/// The provider's window.
const WINDOW: Duration = Duration::from_secs(1);

/// How far every pending slot moves when the provider says its second is
/// full (130429), a skew the count above did not foresee (a provider that
/// counts by other rules): 25 slots at 1,000/s. Once per this span,
/// however many requests are refused together.
pub(crate) const HOLD_BACK: Duration = Duration::from_millis(25);

pub(crate) struct RateLimiter {
    state: Mutex<State>,
    changed: Notify,
}

enum Reserved {
    /// The slot, and the hold-backs so far (`State::shift`) it was given under.
    Slot(Instant, Duration),
    /// The next slot is later than the caller can use.
    TooLate,
    /// No share covers the next slot (yet): wait for a new one.
    NoShare,
}

struct State {
    /// `None`: no share yet (or it ran out).
    interval: Option<Duration>,
    /// The share's limit: the most requests the provider may count within
    /// any one `WINDOW` (this count is already the worst case).
    per_window: usize,
    /// Requests sent and not yet answered.
    out: usize,
    /// When requests were answered within the last `WINDOW`, oldest first.
    answered: VecDeque<Instant>,
    start: Instant,
    until: Instant,
    next: Instant,
    /// Every hold-back so far, summed: a waiter whose slot was given before
    /// one waits that much longer.
    shift: Duration,
    held_at: Option<Instant>,
    /// The last slot given was a wait (the caller queued behind others).
    backlogged: bool,
}

impl RateLimiter {
    /// A limiter with no share: nothing is sent until `set` gives one.
    pub(crate) fn paused() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(State {
                interval: None,
                per_window: 1,
                out: 0,
                answered: VecDeque::new(),
                start: now,
                until: now,
                next: now,
                shift: Duration::ZERO,
                held_at: None,
                backlogged: false,
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

    /// `rate` messages per second, from `start` until
    /// `until`. Slots already given keep their times.
    pub(crate) fn set(&self, rate: f64, start: Instant, until: Instant) {
        {
            let mut state = self.state.lock().expect("never poisoned");
            let rate = rate.max(0.01);
            state.interval = Some(Duration::from_secs_f64(1.0 / rate));
            state.per_window = (rate.floor() as usize).max(1);
            state.start = start;
            state.until = until;
            state.next = state.next.max(start);
        }
        self.changed.notify_waiters();
    }

    /// The provider refused a request for throughput (130429): its clock
    /// saw our slots closer together than ours did. Every slot, given or
    /// not, moves `HOLD_BACK` later, once per `HOLD_BACK`.
    pub(crate) fn hold_back(&self) {
        let mut state = self.state.lock().expect("never poisoned");
        let now = Instant::now();
        if state.held_at.is_some_and(|at| now - at < HOLD_BACK) {
            return;
        }
        state.held_at = Some(now);
        state.shift += HOLD_BACK;
        metrics::counter!("send_hold_backs_total").increment(1);
        // Idle (the next slot already past): the next one from now.
        state.next = state.next.max(now) + HOLD_BACK;
    }

    /// How much later a slot given under `seen` has become.
    fn moved_since(&self, seen: Duration) -> Duration {
        self.state
            .lock()
            .expect("never poisoned")
            .shift
            .saturating_sub(seen)
    }

    /// Gives no more slots (those given keep their times).
    pub(crate) fn pause(&self) {
        self.state.lock().expect("never poisoned").interval = None;
    }

    /// Waits for this caller's slot; the request counts until the permit
    /// is dropped.
    pub(crate) async fn acquire(&self) -> Permit<'_> {
        loop {
            if let Some(permit) = self
                .acquire_by(Instant::now() + Duration::from_secs(3600))
                .await
            {
                return permit;
            }
        }
    }

    /// Waits for this caller's slot if there is one no later than `latest`;
    /// `None` at once, consuming nothing, if there is not: a send that
    /// could not start in time does not take a slot another could use.
    pub(crate) async fn acquire_by(&self, latest: Instant) -> Option<Permit<'_>> {
        loop {
            let changed = self.changed.notified();
            match self.reserve(latest) {
                Reserved::Slot(mut slot, mut seen) => {
                    loop {
                        tokio::time::sleep_until(slot).await;
                        let moved = self.moved_since(seen);
                        if moved.is_zero() {
                            break;
                        }
                        seen += moved;
                        slot += moved;
                    }
                    if self.take() {
                        return Some(Permit { limiter: self });
                    }
                    // The provider may already count a second's worth
                    // (answers delayed by a stall): a later slot.
                }
                Reserved::TooLate => return None,
                Reserved::NoShare => {
                    tokio::select! {
                        () = changed => {}
                        () = tokio::time::sleep(RECHECK) => {}
                    }
                }
            }
        }
    }

    /// The next free slot within the share's span and by `latest`.
    fn reserve(&self, latest: Instant) -> Reserved {
        let mut state = self.state.lock().expect("never poisoned");
        let now = Instant::now();
        if now > latest {
            return Reserved::TooLate;
        }
        let Some(interval) = state.interval else {
            return Reserved::NoShare;
        };
        let mut slot = state.next.max(now).max(state.start);
        // Slots that passed with no one waiting for them although sends
        // had been queueing (a starved sender, not an idle one): time the
        // limit allowed and the engine did not use.
        let unused = now.saturating_duration_since(state.next.max(state.start));
        if state.backlogged && !unused.is_zero() && unused < WINDOW {
            metrics::histogram!("send_slots_unused_seconds").record(unused.as_secs_f64());
        }
        state.backlogged = unused.is_zero();
        // Not before enough of the answers the provider may still count
        // have left its window; if requests still out fill it by
        // themselves, a slot later.
        state.forget_answers_before(now);
        let counted = state.out + state.answered.len();
        if counted >= state.per_window {
            let excess = counted - state.per_window;
            let room = state
                .answered
                .get(excess)
                .map_or(now + interval, |at| *at + WINDOW);
            slot = slot.max(room);
        }
        if slot > latest {
            return Reserved::TooLate;
        }
        if slot >= state.until {
            return Reserved::NoShare;
        }
        state.next = slot + interval;
        Reserved::Slot(slot, state.shift)
    }

    /// Takes the slot now, unless the provider may already count
    /// `per_window` requests within its last `WINDOW`.
    fn take(&self) -> bool {
        let mut state = self.state.lock().expect("never poisoned");
        state.forget_answers_before(Instant::now());
        if state.interval.is_none() || state.out + state.answered.len() >= state.per_window {
            metrics::counter!("send_slots_retaken_total").increment(1);
            return false;
        }
        state.out += 1;
        true
    }

    /// A request was answered (or will not be sent): it counts for one
    /// more `WINDOW`.
    fn answered(&self) {
        let mut state = self.state.lock().expect("never poisoned");
        let now = Instant::now();
        state.out = state.out.saturating_sub(1);
        state.answered.push_back(now);
        state.forget_answers_before(now);
    }
}

impl State {
    /// Drops answers that left the provider's window.
    fn forget_answers_before(&mut self, now: Instant) {
        while self
            .answered
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= WINDOW)
        {
            self.answered.pop_front();
        }
    }
}

/// A request's place in the provider's count, from its slot until its
/// answer: the provider counts it at some moment in between.
#[must_use = "the request counts only while the permit is held"]
pub(crate) struct Permit<'a> {
    limiter: &'a RateLimiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.answered();
    }
}

#[cfg(test)]
mod tests;
