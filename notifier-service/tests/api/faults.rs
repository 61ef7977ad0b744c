//! The provider failing in each way the README's "Retries" lists, credentials expiring, the
//! notifier killed mid-send, and a broker that hangs: retried, failed or paused as the error code
//! says, nothing lost, and no wait without its bound.

use std::time::{Duration, Instant};

use notifier_service::config::Secret;
use todogenie_standin::Fault;
use todogenie_test_kit::FreezableProxy;

use crate::helpers::{spawn_pair, spawn_with, Options, TestEvent};

const PHONE: &str = "+14155550123";
const DIGITS: &str = "14155550123";

#[tokio::test]
async fn server_errors_and_timeouts_are_retried_until_sent() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    pair.standin.inject(DIGITS, Fault::ServerError(503));
    // Longer than the notifier's 700 ms provider timeout.
    pair.standin
        .inject(DIGITS, Fault::Hang(Duration::from_millis(1500)));
    pair.standin.inject(
        DIGITS,
        Fault::Error {
            http: 400,
            code: 131_000,
        },
    );
    let event = TestEvent::due("alice", "Flaky network");
    pair.publish_event(&event).await;
    let (_, attempts, _, _) = pair
        .wait_status(event.task_id, "DELIVERED", Duration::from_secs(20))
        .await;
    assert_eq!(attempts, 4, "three failures, then the message");
    assert_eq!(pair.standin.sent().len(), 1);
}

#[tokio::test]
async fn a_permanent_error_fails_at_once_with_its_code() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    pair.standin.inject(
        DIGITS,
        Fault::Error {
            http: 400,
            code: 131_026,
        },
    );
    let event = TestEvent::due("alice", "Undeliverable");
    pair.publish_event(&event).await;
    let (_, attempts, why, channel) = pair
        .wait_status(event.task_id, "FAILED", Duration::from_secs(10))
        .await;
    assert_eq!(attempts, 1);
    assert!(why.unwrap().starts_with("131026"));
    assert_eq!(channel, "whatsapp");
    assert!(pair.standin.sent().is_empty());
}

#[tokio::test]
async fn a_reminder_whatsapp_cannot_take_goes_by_sms_where_configured() {
    let pair = spawn_with(Options {
        sms_fallback: true,
        ..Options::default()
    })
    .await;
    pair.contact("alice", PHONE).await;
    pair.standin.inject(
        DIGITS,
        Fault::Error {
            http: 400,
            code: 131_026,
        },
    );
    let event = TestEvent::due("alice", "Pick up parcel");
    pair.publish_event(&event).await;
    let (_, attempts, why, channel) = pair
        .wait_status(event.task_id, "SENT", Duration::from_secs(15))
        .await;
    assert_eq!(channel, "sms");
    assert_eq!(attempts, 2);
    assert!(
        why.unwrap().contains("131026"),
        "the WhatsApp failure stays on record"
    );
    let sent = pair.standin.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, "sms");
    assert_eq!(sent[0].body["To"], PHONE);
    assert!(sent[0].body["Body"]
        .as_str()
        .unwrap()
        .contains("Pick up parcel"));
}

#[tokio::test]
async fn outside_the_window_the_reminder_is_sent_again_at_once_as_the_template() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    // The notifier believes the window is open; WhatsApp (the stand-in) does not.
    assert_eq!(pair.standin.webhooks.inbound_text(DIGITS, "hi").await, 200);
    crate::helpers::poll(Duration::from_secs(5), "the window", || async {
        sqlx::query_scalar::<_, bool>("SELECT window_expire_time IS NOT NULL FROM contacts")
            .fetch_one(&pair.pool)
            .await
            .unwrap()
    })
    .await;
    let event = TestEvent::due("alice", "Window closed");
    pair.publish_event(&event).await;
    let (_, attempts, _, _) = pair
        .wait_status(event.task_id, "DELIVERED", Duration::from_secs(10))
        .await;
    assert_eq!(attempts, 2);
    assert_eq!(pair.standin.refused(131_047), 1);
    assert_eq!(pair.standin.sent()[0].kind, "template");
}

#[tokio::test]
async fn a_pair_rate_limit_is_retried_for_that_recipient_after_a_second() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    pair.standin.inject(
        DIGITS,
        Fault::Error {
            http: 400,
            code: 131_056,
        },
    );
    let event = TestEvent::due("alice", "Busy line");
    pair.publish_event(&event).await;
    let (_, attempts, _, _) = pair
        .wait_status(event.task_id, "DELIVERED", Duration::from_secs(10))
        .await;
    assert_eq!(attempts, 2);
    let requests: Vec<_> = pair.standin.sent();
    assert_eq!(requests.len(), 1);
}

#[tokio::test]
async fn an_expired_token_stops_sending_fails_readyz_and_loses_nothing() {
    let mut pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    pair.standin.set_access_token("the-renewed-token");
    let event = TestEvent::due("alice", "Token expired");
    pair.publish_event(&event).await;
    pair.notifier().ready(503).await;
    // The outcome is recorded right after the refusal is acted on.
    crate::helpers::poll(Duration::from_secs(5), "the refusal recorded", || async {
        pair.notifications_of(event.task_id).await[0].2.is_some()
    })
    .await;
    let rows = pair.notifications_of(event.task_id).await;
    assert_eq!(rows[0].0, "QUEUED", "kept, not failed: {rows:?}");
    assert!(rows[0].2.as_deref().unwrap().starts_with("190"));
    assert_eq!(
        pair.standin.refused(190),
        1,
        "stopped after the first refusal"
    );

    // The operator puts the new token in and restarts.
    pair.notifier.take().unwrap().stop().await.unwrap();
    pair.settings.whatsapp_access_token = Some(Secret::new("the-renewed-token"));
    pair.restart().await;
    pair.notifier().ready(200).await;
    pair.wait_status(event.task_id, "DELIVERED", Duration::from_secs(40))
        .await;
    assert_eq!(pair.standin.sent().len(), 1);
}

#[tokio::test]
async fn a_notifier_killed_mid_send_and_restarted_loses_nothing() {
    let mut pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    // WhatsApp holds the first request (and then drops it) while we die.
    pair.standin
        .inject(DIGITS, Fault::Hang(Duration::from_secs(5)));
    let event = TestEvent::due("alice", "Crash test");
    pair.publish_event(&event).await;
    crate::helpers::poll(Duration::from_secs(10), "the request in flight", || async {
        pair.standin.requests_to(DIGITS) == 1
    })
    .await;
    pair.notifier.take().unwrap().kill().await;
    pair.restart().await;
    let (_, attempts, _, _) = pair
        .wait_status(event.task_id, "DELIVERED", Duration::from_secs(20))
        .await;
    assert_eq!(attempts, 2, "the lost request shows in attempts");
    assert_eq!(pair.standin.sent().len(), 1);
}

#[tokio::test]
async fn postgresql_dropping_every_connection_mid_delivery_loses_nothing_and_sends_nothing_twice() {
    // Two a second: the deliveries spread over the connection cuts.
    let pair = spawn_with(Options {
        max_mps: 2,
        ..Options::default()
    })
    .await;
    let users: Vec<(String, String)> = (0..8)
        .map(|i| (format!("user{i}"), format!("+1415555{:04}", 200 + i)))
        .collect();
    for (user, phone) in &users {
        pair.contact(user, phone).await;
    }
    let events: Vec<TestEvent> = users
        .iter()
        .map(|(user, _)| TestEvent::due(user, "Through a restart"))
        .collect();
    for event in &events {
        pair.publish_event(event).await;
    }
    // What a PostgreSQL restart does to its clients: every connection of
    // this test's database dropped, three times while messages go out.
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", todogenie_test_kit::postgres_base()))
        .await
        .unwrap();
    for sent_before_cut in [1, 3, 5] {
        pair.standin
            .wait_for(Duration::from_secs(30), "deliveries under way", |s| {
                s.len() >= sent_before_cut
            })
            .await;
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&pair.db_name)
            .execute(&admin)
            .await
            .unwrap();
    }
    for event in &events {
        pair.wait_status(event.task_id, "DELIVERED", Duration::from_secs(60))
            .await;
    }
    let mut per_phone = std::collections::HashMap::new();
    for sent in pair.standin.sent() {
        *per_phone.entry(sent.to).or_insert(0) += 1;
    }
    assert_eq!(per_phone.len(), users.len(), "{per_phone:?}");
    assert!(per_phone.values().all(|&n| n == 1), "{per_phone:?}");
}

/// A broker that stops answering while the notifier consumes (a hung node,
/// a network dropping packets) does not hold its shutdown: closing the
/// consumer's connection is given up after `amqp::CLOSE_WITHIN` (1 s). The
/// close used to wait for an answer until the shutdown deadline (9 s) cut
/// it off.
#[tokio::test]
async fn a_broker_that_answers_nothing_does_not_hold_the_shutdown() {
    let proxy = FreezableProxy::start().await;
    let mut pair = spawn_with(Options {
        amqp_url: Some(proxy.url()),
        ..Options::default()
    })
    .await;
    // Consuming through the proxy: an event published direct arrives.
    pair.contact("alice", PHONE).await;
    let event = TestEvent::due("alice", "Through the proxy");
    pair.publish_event(&event).await;
    pair.wait_status(event.task_id, "DELIVERED", Duration::from_secs(20))
        .await;
    proxy.freeze();
    let stopping = Instant::now();
    pair.notifier
        .take()
        .unwrap()
        .stop()
        .await
        .expect("a clean stop");
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "stopping took {took:?} with the broker frozen"
    );
}
