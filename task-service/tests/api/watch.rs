//! WatchTasks streams committed changes and reminders as they happen.

use std::time::Duration;

use task_service::auth::Role;
use todogenie_proto::v1 as pb;

use crate::helpers::{create, spawn_app, timestamp, titled};

async fn next(stream: &mut tonic::Streaming<pb::TaskEvent>) -> pb::TaskEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an event within 10 s")
        .expect("the stream stays healthy")
        .expect("the stream stays open")
}

#[tokio::test]
async fn watchers_see_creates_updates_and_reminders_of_their_own_tasks() {
    let app = spawn_app().await;
    app.ready().await;
    let mut alice = app.user("alice").await;
    let mut bob = app.user("bob").await;
    let mut admin = app.client("ops", Role::Admin).await;

    let mut alice_watch = watch(&mut alice).await;
    let mut admin_watch = watch(&mut admin).await;

    bob.create_task(create(titled("Bob's"))).await.unwrap();
    let due = chrono::Utc::now() + chrono::Duration::milliseconds(1200);
    let task = alice
        .create_task(create(pb::Task {
            due_time: Some(timestamp(due)),
            ..titled("Alice's")
        }))
        .await
        .unwrap()
        .into_inner();
    let rename = pb::UpdateTaskRequest {
        task: Some(pb::Task {
            id: task.id.clone(),
            title: "Alice's, renamed".into(),
            ..pb::Task::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
    };
    alice.update_task(rename).await.unwrap();

    // Events of one task may arrive out of order (each relay loop publishes
    // its own claim; README, "Events of one task can arrive out of order"):
    // a watcher gets each of them once, in whatever order.
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next(&mut alice_watch).await);
    }
    let of = |kind: pb::TaskEventType| {
        let mut matching = seen.iter().filter(|e| e.r#type() == kind);
        let event = matching
            .next()
            .unwrap_or_else(|| panic!("no {kind:?} in {seen:?}"));
        assert!(matching.next().is_none(), "one {kind:?} in {seen:?}");
        event.clone()
    };
    let created = of(pb::TaskEventType::Created);
    assert_eq!(
        created.task.as_ref().unwrap().title,
        "Alice's",
        "not Bob's task"
    );
    assert_eq!(created.task.as_ref().unwrap().due_time, task.due_time);
    let updated = of(pb::TaskEventType::Updated);
    assert_eq!(updated.task.as_ref().unwrap().title, "Alice's, renamed");
    let due_event = of(pb::TaskEventType::Due);
    assert_eq!(due_event.task.unwrap().id, task.id);
    assert!(due_event.reminder_time.is_some());

    let mut owners = Vec::new();
    for _ in 0..4 {
        owners.push(next(&mut admin_watch).await.task.unwrap().owner);
    }
    owners.sort();
    assert_eq!(
        owners,
        ["alice", "alice", "alice", "bob"],
        "admin sees everyone's"
    );
}

async fn watch(client: &mut crate::helpers::Client) -> tonic::Streaming<pb::TaskEvent> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match client.watch_tasks(pb::WatchTasksRequest {}).await {
            Ok(response) => return response.into_inner(),
            Err(status)
                if status.code() == tonic::Code::Unavailable
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("WatchTasks: {status:?}"),
        }
    }
}

#[tokio::test]
async fn a_watcher_that_stops_reading_holds_back_nobody() {
    let app = spawn_app().await;
    app.ready().await;
    let mut admin = app.client("ops", Role::Admin).await;
    let mut stalled = watch(&mut admin).await;
    let mut reader = watch(&mut admin).await;

    // More events than a watcher may fall behind by (4,096).
    const EVENTS: usize = 5000;
    let writer = admin.clone();
    let produce = tokio::spawn(async move {
        for chunk in 0..EVENTS / 50 {
            let calls = (0..50).map(|i| {
                let mut client = writer.clone();
                tokio::spawn(async move {
                    client
                        .create_task(create(titled(&format!("Event {chunk}/{i}"))))
                        .await
                        .unwrap();
                })
            });
            futures::future::join_all(calls).await;
        }
    });
    let mut seen = 0;
    while seen < EVENTS {
        next(&mut reader).await;
        seen += 1;
    }
    produce.await.unwrap();

    // The stalled watcher was not waited for: it now gets what its buffers
    // held, then either the rest or, had it fallen more than 4,096 events
    // behind, RESOURCE_EXHAUSTED. Nothing is skipped silently.
    let mut delivered = 0;
    while delivered < EVENTS {
        match tokio::time::timeout(Duration::from_secs(10), stalled.message())
            .await
            .expect("an answer")
        {
            Ok(Some(_)) => delivered += 1,
            Ok(None) => panic!("the stream ended without saying why"),
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
                break;
            }
        }
    }
}
