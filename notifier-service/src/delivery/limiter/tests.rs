//! The limiter's spacing, shares, stalls and hold-backs, on tokio's paused clock.

use super::*;

#[tokio::test(start_paused = true)]
async fn slots_are_spaced_by_the_rate_without_a_burst() {
    let limiter = RateLimiter::per_second(100.0);
    let start = Instant::now();
    for _ in 0..50 {
        drop(limiter.acquire().await);
    }
    let elapsed = start.elapsed().as_secs_f64();
    // 49 gaps of 1/100 s.
    assert!((elapsed - 49.0 / 100.0).abs() < 0.01, "{elapsed}");
}

#[tokio::test(start_paused = true)]
async fn no_slot_is_given_before_a_share_starts_or_after_it_ends() {
    let limiter = std::sync::Arc::new(RateLimiter::paused());
    let t0 = Instant::now();
    let waiter = {
        let limiter = limiter.clone();
        tokio::spawn(async move {
            drop(limiter.acquire().await);
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
async fn slots_delayed_by_a_stall_never_crowd_one_second() {
    let limiter = std::sync::Arc::new(RateLimiter::per_second(100.0));
    // 400 senders at once, and the runtime stalls for 300 ms at 0.5 s:
    // the slots due meanwhile are taken together when it resumes.
    let taken = std::sync::Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let senders: Vec<_> = (0..400)
        .map(|_| {
            let (limiter, taken) = (limiter.clone(), taken.clone());
            tokio::spawn(async move {
                drop(limiter.acquire().await);
                taken.lock().unwrap().push(Instant::now());
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::time::advance(Duration::from_millis(300)).await;
    for sender in senders {
        sender.await.unwrap();
    }
    let mut times = taken.lock().unwrap().clone();
    times.sort();
    let busiest = (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < WINDOW)
                .count()
        })
        .max()
        .unwrap();
    assert!(busiest <= 100, "{busiest} in one second");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn answers_delayed_by_a_stall_hold_the_next_second_back() {
    let limiter = std::sync::Arc::new(RateLimiter::per_second(100.0));
    // The provider stalls from 0.2 s to 0.45 s: the requests sent
    // meanwhile are counted, and answered, when it resumes. It refuses
    // the 101st request within any one second of its clock.
    let stamps = std::sync::Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let resumes = start + Duration::from_millis(450);
    let senders: Vec<_> = (0..250)
        .map(|_| {
            let (limiter, stamps) = (limiter.clone(), stamps.clone());
            tokio::spawn(async move {
                let permit = limiter.acquire().await;
                let sent = Instant::now() - start;
                let stamp = if (200..450).contains(&sent.as_millis()) {
                    tokio::time::sleep_until(resumes).await;
                    resumes
                } else {
                    Instant::now()
                };
                drop(permit);
                stamps.lock().unwrap().push(stamp);
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    let mut stamps = stamps.lock().unwrap().clone();
    stamps.sort();
    let busiest = (0..stamps.len())
        .map(|i| {
            stamps[i..]
                .iter()
                .take_while(|t| **t - stamps[i] < WINDOW)
                .count()
        })
        .max()
        .unwrap();
    assert!(
        busiest <= 100,
        "the provider counted {busiest} in one second"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slot_too_late_for_its_caller_is_left_for_the_next() {
    let limiter = RateLimiter::per_second(1.0);
    drop(limiter.acquire().await);
    let start = Instant::now();
    // The next slot is about a second away: not within 0.5 s.
    assert!(limiter
        .acquire_by(start + Duration::from_millis(500))
        .await
        .is_none());
    assert_eq!(Instant::now(), start, "refused at once");
    // The refusal consumed nothing: the next caller gets that slot.
    assert!(limiter
        .acquire_by(start + Duration::from_secs(2))
        .await
        .is_some());
    let waited = start.elapsed().as_secs_f64();
    assert!((waited - 1.0).abs() < 0.01, "{waited}");
}

#[tokio::test(start_paused = true)]
async fn a_hold_back_moves_every_pending_slot_once() {
    let limiter = std::sync::Arc::new(RateLimiter::per_second(100.0));
    let start = Instant::now();
    // Ten waiters, slots given (about 10 ms apart), none sent yet.
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                drop(limiter.acquire().await);
                Instant::now()
            })
        })
        .collect();
    tokio::task::yield_now().await;
    // Refused twice at once: one hold-back.
    limiter.hold_back();
    limiter.hold_back();
    let mut sent = Vec::new();
    for waiter in waiters {
        sent.push(waiter.await.unwrap() - start);
    }
    sent.sort();
    let last = sent[9].as_secs_f64();
    let expected = 9.0 / 100.0 + HOLD_BACK.as_secs_f64();
    assert!((last - expected).abs() < 0.005, "{sent:?}");
    // Later, another refusal, with no slot pending: the next one
    // waits HOLD_BACK from now.
    tokio::time::advance(HOLD_BACK).await;
    limiter.hold_back();
    let before = Instant::now();
    drop(limiter.acquire().await);
    assert!(Instant::now() - before >= HOLD_BACK);
}

#[tokio::test(start_paused = true)]
async fn a_smaller_share_spaces_the_slots_wider() {
    let limiter = RateLimiter::per_second(100.0);
    drop(limiter.acquire().await);
    let now = Instant::now();
    limiter.set(10.0, now, now + Duration::from_secs(60));
    let start = Instant::now();
    for _ in 0..6 {
        drop(limiter.acquire().await);
    }
    let elapsed = start.elapsed().as_secs_f64();
    // The slot given at 100/s, then five gaps of 1/10 s.
    assert!((elapsed - 5.0 / 10.0).abs() < 0.02, "{elapsed}");
}
