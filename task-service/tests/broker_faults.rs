//! RabbitMQ taking every connection away mid-run, and stopping and starting.
//! A test binary of its own: `rabbitmqctl close_all_connections` and
//! `stop_app` act on every client, so nothing else may run beside them
//! (cargo runs test binaries one by one; here they take turns).

// Shared with the API tests; this binary uses only part of them.
#[allow(dead_code, unused_imports)]
#[path = "api/helpers.rs"]
mod helpers;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use helpers::{create, spawn_app, titled};

/// The tests here act on the whole broker: one at a time.
static BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use task_service::relay::{Delivery, Publisher};
use task_service::store::outbox::OutboxRow;
use todogenie_common::amqp;
use todogenie_test_kit::{close_all_connections, rabbitmqctl, FreezableProxy};

async fn ready_status(app: &helpers::TestApp) -> u16 {
    reqwest::get(format!("http://{}/readyz", app.http_addr))
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test]
async fn closing_every_broker_connection_mid_run_loses_no_event() {
    let _broker = BROKER.lock().await;
    let app = spawn_app().await;
    app.ready().await;
    let tap = app.tap().await;
    let alice = app.user("alice").await;

    let creators = tokio::spawn(async move {
        let mut ids = Vec::new();
        for wave in 0..6 {
            let calls = (0..50).map(|i| {
                let mut client = alice.clone();
                tokio::spawn(async move {
                    client
                        .create_task(create(titled(&format!("Wave {wave} task {i}"))))
                        .await
                        .unwrap()
                        .into_inner()
                        .id
                })
            });
            for id in futures::future::join_all(calls).await {
                ids.push(id.unwrap());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ids
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    close_all_connections().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    close_all_connections().await;
    let ids: HashSet<String> = creators.await.unwrap().into_iter().collect();
    assert_eq!(ids.len(), 300);

    let received = tap
        .wait_until(Duration::from_secs(60), "an event for every task", |all| {
            let seen: HashSet<&str> = all
                .iter()
                .filter_map(|e| e.body["subject"].as_str())
                .collect();
            ids.iter().all(|id| seen.contains(id.as_str()))
        })
        .await;
    // Every change has exactly one event id (a republished event keeps its id).
    let mut event_ids: HashMap<String, HashSet<String>> = HashMap::new();
    for event in &received {
        let subject = event.body["subject"].as_str().unwrap().to_owned();
        event_ids
            .entry(subject)
            .or_default()
            .insert(event.message_id.clone());
    }
    assert_eq!(
        event_ids.len(),
        300,
        "no event for a task we did not create"
    );
    for (task, events) in &event_ids {
        assert_eq!(
            events.len(),
            1,
            "task {task} has {} different events",
            events.len()
        );
    }
    let republished = received.iter().filter(|e| !e.redelivered).count() - 300;
    eprintln!(
        "deliveries: {}, republished after a lost confirm: {republished}",
        received.len()
    );

    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "the outbox drained");
    app.ready().await;
}

#[tokio::test]
async fn events_committed_while_the_broker_is_stopped_go_out_when_it_is_back() {
    let _broker = BROKER.lock().await;
    let app = spawn_app().await;
    app.ready().await;
    let tap = app.tap().await;
    let mut alice = app.user("alice").await;
    alice
        .create_task(create(titled("Before the outage")))
        .await
        .unwrap();
    tap.wait_until(Duration::from_secs(10), "the first event", |all| {
        all.len() == 1
    })
    .await;

    rabbitmqctl(&["stop_app"]).await;
    // The service keeps taking changes; their events wait in the outbox.
    let mut ids = HashSet::new();
    for i in 0..20 {
        let task = alice
            .create_task(create(titled(&format!("During the outage {i}"))))
            .await
            .unwrap();
        ids.insert(task.into_inner().id);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ready_status(&app).await != 503 {
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz stayed 200 without a broker"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(waiting, 20);
    rabbitmqctl(&["start_app"]).await;
    rabbitmqctl(&["await_startup"]).await;

    let received = tap
        .wait_until(Duration::from_secs(60), "the outage's events", |all| {
            let seen: HashSet<&str> = all
                .iter()
                .filter_map(|e| e.body["subject"].as_str())
                .collect();
            ids.iter().all(|id| seen.contains(id.as_str()))
        })
        .await;
    let distinct: HashSet<&str> = received.iter().map(|e| e.message_id.as_str()).collect();
    assert_eq!(distinct.len(), 21, "one event per change");
    app.ready().await;
}

/// A backlog goes out in full batches, each relay claiming the next batch
/// while the broker confirms the one before (`relay::Relay::round`). Every
/// connection closed twice mid-drain: every event still arrives, and the
/// outbox never stops draining for as long as a lease would hold a batch:
/// the batches claimed ahead are given back.
#[tokio::test]
async fn a_backlog_drained_with_claims_ahead_loses_no_event_when_connections_close() {
    const BACKLOG: i64 = 100_000;
    let _broker = BROKER.lock().await;
    let app = spawn_app().await;
    app.ready().await;
    let tap = app.tap().await;
    let written: HashSet<String> = sqlx::query_scalar(
        "INSERT INTO outbox (event_id, routing_key, payload, traceparent) \
         SELECT gen_random_uuid(), 'task.backlog', '{}'::bytea, '' FROM generate_series(1, $1) \
         RETURNING event_id::text",
    )
    .bind(BACKLOG)
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(task_service::wake::OUTBOX_CHANNEL)
        .execute(&app.pool)
        .await
        .unwrap();

    let left = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    for after in [5_000, 40_000] {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while tap.distinct() < after {
            assert!(
                std::time::Instant::now() < deadline,
                "{after} events never came"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        close_all_connections().await;
        if after == 5_000 {
            // Else the backlog is too small to test anything here.
            assert!(left().await > 0, "the backlog drained before the fault");
        }
    }

    // The relay never waits out its 30-s lease: a batch claimed ahead and
    // not given back would sit under it while the rest drained, and the
    // outbox would stop shrinking with rows left (measured with give-back
    // disabled: all out 32.6 s after the last fault, against 6.7 s). So the
    // drain may take as long as the machine needs, but may not stand still
    // for half a lease. Watched in the outbox, where the relay works, not
    // at the tap: on a loaded machine the tap, on this test's one thread,
    // fell behind what the broker had confirmed (2026-12-05: 66,677 events
    // recorded at the end, 86,718 delivered to it unacked, 9,000 rows left).
    const STALL: Duration = Duration::from_secs(15);
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let (mut fewest_left, mut last_drop) = (i64::MAX, std::time::Instant::now());
    loop {
        let now_left = left().await;
        if now_left == 0 {
            break;
        }
        if now_left < fewest_left {
            (fewest_left, last_drop) = (now_left, std::time::Instant::now());
        }
        assert!(
            last_drop.elapsed() < STALL,
            "the outbox stood at {now_left} of {BACKLOG} rows for {STALL:?}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "{now_left} of {BACKLOG} rows still in the outbox 300 s after the last fault"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Each row left only after its confirm: the tap has (or will have)
    // every event, and none that nobody wrote.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while tap.distinct() < written.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {BACKLOG} confirmed events reached the tap",
            tap.distinct()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let came = tap.ids();
    assert_eq!(
        (
            written.difference(&came).count(),
            came.difference(&written).count()
        ),
        (0, 0),
        "events written that never came, and events that came that nobody wrote"
    );
    assert_eq!(left().await, 0, "the outbox drained");
    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox_claims WHERE claimed_until > now()")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(held, 0, "no claim left under a lease");
    app.ready().await;
}

/// A broker that takes the TCP connection and then answers nothing: the
/// relay's connect gives up within its bound instead of waiting for the
/// kernel (minutes), and can go round its reconnect loop.
#[tokio::test]
async fn a_broker_that_answers_nothing_fails_the_connect_within_its_bound() {
    let _broker = BROKER.lock().await;
    let proxy = FreezableProxy::start().await;
    proxy.freeze();
    let started = std::time::Instant::now();
    // The test's own bound, so that a connect without one fails it.
    let url = proxy.url();
    let connecting = Publisher::connect(&url, "tg.frozen");
    let Ok(Err(error)) =
        tokio::time::timeout(amqp::CONNECT_WITHIN + Duration::from_secs(5), connecting).await
    else {
        panic!("no answer within the bound, or connected through a proxy that passes nothing");
    };
    let took = started.elapsed();
    assert!(
        format!("{error:#}").contains("did not answer within"),
        "{error:#}"
    );
    assert!(
        took >= amqp::CONNECT_WITHIN && took < amqp::CONNECT_WITHIN + Duration::from_secs(5),
        "gave up after {took:?}"
    );
}

/// Confirms that never come: the batch counts as lost at its deadline (the
/// relay then offers it again and reconnects) rather than holding the relay
/// past its lease, and the broken publisher closes without waiting on the
/// broker.
#[tokio::test]
async fn a_batch_the_broker_never_confirms_is_lost_at_its_deadline() {
    let _broker = BROKER.lock().await;
    let app = spawn_app().await;
    let proxy = FreezableProxy::start().await;
    let mut publisher = Publisher::connect_declaring(&proxy.url(), &app.topology)
        .await
        .unwrap();
    publisher.confirm_within = Duration::from_secs(1);
    let row = |id| OutboxRow {
        id,
        event_id: uuid::Uuid::now_v7(),
        routing_key: "task.frozen".into(),
        payload: b"{}".to_vec(),
        traceparent: String::new(),
        due_time: None,
        attempts: 0,
    };
    let through = publisher.publish(&[row(1)]).await;
    assert!(matches!(through[..], [Delivery::Confirmed]), "{through:?}");

    proxy.freeze();
    let started = std::time::Instant::now();
    let stuck = tokio::time::timeout(
        Duration::from_secs(10),
        publisher.publish(&[row(2), row(3), row(4)]),
    )
    .await
    .expect("the publish waited past its deadline");
    let took = started.elapsed();
    assert_eq!(stuck.len(), 3);
    for delivery in &stuck {
        assert!(
            matches!(delivery, Delivery::Lost(why) if why.contains("no confirm within 1s")),
            "{stuck:?}"
        );
    }
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "gave the batch up after {took:?}"
    );
    tokio::time::timeout(Duration::from_secs(3), publisher.close())
        .await
        .expect("close waited on a broker that answers nothing");
}
