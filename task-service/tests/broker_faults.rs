//! RabbitMQ taking every connection away mid-run. A test binary of its own:
//! `rabbitmqctl close_all_connections` closes every client's connections,
//! so nothing else may run beside it (cargo runs test binaries one by one).

// Shared with the API tests; this binary uses only part of them.
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "api/tap.rs"]
mod tap;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use helpers::{create, spawn_app, titled};

async fn close_all_connections() {
    let output = tokio::process::Command::new("rabbitmqctl")
        .args([
            "close_all_connections",
            "test: closing every connection mid-run",
        ])
        .output()
        .await
        .expect("rabbitmqctl must be installed (it comes with rabbitmq-server)");
    assert!(
        output.status.success(),
        "rabbitmqctl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn closing_every_broker_connection_mid_run_loses_no_event() {
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
