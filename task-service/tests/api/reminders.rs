//! Reminders fire once, on time, from whichever scheduler takes them.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use todogenie_proto::v1 as pb;

use crate::helpers::{create, spawn_app, timestamp, titled};

#[tokio::test]
async fn a_due_reminder_publishes_one_task_due_event_and_closed_tasks_none() {
    let app = spawn_app().await;
    let tap = app.tap().await;
    let mut alice = app.user("alice").await;
    let due = Utc::now() + chrono::Duration::milliseconds(1500);
    let open = alice
        .create_task(create(pb::Task {
            due_time: Some(timestamp(due)),
            ..titled("Call mum")
        }))
        .await
        .unwrap()
        .into_inner();
    let closed = alice
        .create_task(create(pb::Task {
            due_time: Some(timestamp(due)),
            ..titled("Already done")
        }))
        .await
        .unwrap()
        .into_inner();
    alice
        .complete_task(pb::CompleteTaskRequest {
            id: closed.id.clone(),
        })
        .await
        .unwrap();

    let events = tap
        .wait_until(Duration::from_secs(10), "the due event", |all| {
            all.iter().any(|e| e.routing_key == "task.due")
        })
        .await;
    let due_event = events.iter().find(|e| e.routing_key == "task.due").unwrap();
    assert_eq!(due_event.body["subject"], open.id.as_str());
    assert_eq!(due_event.body["type"], "todogenie.task.due.v1");
    let reminder_time = chrono::DateTime::parse_from_rfc3339(
        due_event.body["data"]["reminderTime"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(reminder_time.timestamp_micros(), due.timestamp_micros());
    assert!(due_event.at >= due, "never early");
    // created x2, completed, due — and nothing for the completed task.
    let all = app
        .exactly(&tap, 4, "two creates, a completion and one due")
        .await;
    assert_eq!(
        all.iter().filter(|e| e.routing_key == "task.due").count(),
        1
    );
}

#[tokio::test]
async fn snoozing_fires_a_reminder_after_the_snooze() {
    let app = spawn_app().await;
    let tap = app.tap().await;
    let mut alice = app.user("alice").await;
    let task = alice
        .create_task(create(titled("Later")))
        .await
        .unwrap()
        .into_inner();
    let before = Utc::now();
    alice
        .snooze_task(pb::SnoozeTaskRequest {
            id: task.id.clone(),
            duration: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
        })
        .await
        .unwrap();
    let events = tap
        .wait_until(Duration::from_secs(10), "the snoozed reminder", |all| {
            all.iter().any(|e| e.routing_key == "task.due")
        })
        .await;
    let due = events.iter().find(|e| e.routing_key == "task.due").unwrap();
    assert_eq!(due.body["subject"], task.id.as_str());
    assert!(due.at >= before + chrono::Duration::seconds(1));
}

#[tokio::test]
async fn two_task_services_on_one_database_fire_each_reminder_once() {
    let app = spawn_app().await;
    let replica = app.replica().await;
    let tap = app.tap().await;
    let admin = app.client("ops", task_service::auth::Role::Admin).await;
    let due = Utc::now() + chrono::Duration::seconds(2);
    let creates = (0..150).map(|i| {
        let mut client = admin.clone();
        let task = pb::Task {
            owner: format!("user{}", i % 7),
            due_time: Some(timestamp(due + chrono::Duration::milliseconds(i * 7))),
            ..titled(&format!("Reminder {i}"))
        };
        tokio::spawn(async move {
            client
                .create_task(create(task))
                .await
                .unwrap()
                .into_inner()
                .id
        })
    });
    let ids: Vec<String> = futures::future::join_all(creates)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    tap.wait_until(Duration::from_secs(20), "150 due events", |all| {
        all.iter().filter(|e| e.routing_key == "task.due").count() >= 150
    })
    .await;
    // Every fire time has passed by now: once none is left and the outbox is
    // empty, a second event for any task could only already be at the tap.
    app.settled(&tap).await;
    let events: Vec<_> = tap
        .all()
        .into_iter()
        .filter(|e| e.routing_key == "task.due")
        .collect();
    let mut per_task: HashMap<String, usize> = HashMap::new();
    for event in &events {
        *per_task
            .entry(event.body["subject"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for id in &ids {
        assert_eq!(
            per_task.get(id),
            Some(&1),
            "task {id} fired {:?} times",
            per_task.get(id)
        );
    }
    assert_eq!(events.len(), 150);
    drop(replica);
}
