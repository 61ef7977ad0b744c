//! UpdateTask: field masks, etags under concurrency, and rescheduling.

use chrono::{Duration, Utc};
use prost_types::FieldMask;
use todogenie_proto::v1 as pb;
use tonic::Code;

use crate::helpers::{bad_fields, create, spawn_app, timestamp, titled, Client};

fn update(task: pb::Task, paths: &[&str]) -> pb::UpdateTaskRequest {
    pb::UpdateTaskRequest {
        task: Some(task),
        update_mask: Some(FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
    }
}

async fn new_task(client: &mut Client) -> pb::Task {
    let task = pb::Task {
        description: "keep me".into(),
        tags: vec!["Home".into()],
        priority: pb::Priority::High.into(),
        ..titled("Original")
    };
    client.create_task(create(task)).await.unwrap().into_inner()
}

#[tokio::test]
async fn a_mask_changes_only_the_named_fields_and_moves_the_etag() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let task = new_task(&mut alice).await;

    let change = pb::Task {
        id: task.id.clone(),
        title: "Renamed".into(),
        description: "ignored".into(),
        ..pb::Task::default()
    };
    let updated = alice
        .update_task(update(change, &["title"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.title, "Renamed");
    assert_eq!(updated.description, "keep me");
    assert_eq!(updated.tags, ["Home"]);
    assert_eq!(updated.priority(), pb::Priority::High);
    assert_ne!(updated.etag, task.etag);
    let secs = |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| (t.seconds, t.nanos));
    assert!(secs(&updated.update_time) > secs(&task.update_time));
    assert_eq!(updated.create_time, task.create_time);
}

#[tokio::test]
async fn an_empty_mask_replaces_every_mutable_field() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let task = new_task(&mut alice).await;
    let replacement = pb::Task {
        id: task.id.clone(),
        ..titled("Only a title")
    };
    let replaced = alice
        .update_task(pb::UpdateTaskRequest {
            task: Some(replacement),
            update_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replaced.title, "Only a title");
    assert_eq!(replaced.description, "");
    assert!(replaced.tags.is_empty());
    assert_eq!(replaced.priority(), pb::Priority::Medium);
    assert_eq!(
        replaced.state(),
        pb::TaskState::Pending,
        "an unspecified state is kept"
    );
}

#[tokio::test]
async fn an_update_that_changes_nothing_keeps_the_etag() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let task = new_task(&mut alice).await;
    let same = pb::Task {
        id: task.id.clone(),
        title: "Original".into(),
        ..pb::Task::default()
    };
    let after = alice
        .update_task(update(same, &["title"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.etag, task.etag);
    assert_eq!(after.update_time, task.update_time);
}

#[tokio::test]
async fn unknown_or_output_only_mask_paths_are_invalid() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let task = new_task(&mut alice).await;
    for path in ["owner", "id", "etag", "create_time", "nonsense"] {
        let status = alice
            .update_task(update(
                pb::Task {
                    id: task.id.clone(),
                    ..pb::Task::default()
                },
                &[path],
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["update_mask"], "{path}");
    }
    let status = alice
        .update_task(update(
            pb::Task {
                id: task.id.clone(),
                ..pb::Task::default()
            },
            &["state"],
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["task.state"]);
}

#[tokio::test]
async fn of_concurrent_updates_from_one_etag_exactly_one_wins() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let task = new_task(&mut alice).await;
    let attempts = (0..12).map(|i| {
        let mut client = alice.clone();
        let change = pb::Task {
            id: task.id.clone(),
            etag: task.etag.clone(),
            title: format!("Writer {i}"),
            ..pb::Task::default()
        };
        tokio::spawn(async move { client.update_task(update(change, &["title"])).await })
    });
    let results: Vec<_> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "one writer wins");
    for loser in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(loser.code(), Code::Aborted, "{loser:?}");
    }
    let stored = alice
        .get_task(pb::GetTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.title, winners[0].get_ref().title);

    // Without an etag the last writer wins and nobody is refused.
    let change = pb::Task {
        id: task.id.clone(),
        title: "Blind write".into(),
        ..pb::Task::default()
    };
    alice.update_task(update(change, &["title"])).await.unwrap();
    // A stale one is refused, a current one accepted.
    let stale = pb::Task {
        id: task.id.clone(),
        etag: task.etag.clone(),
        title: "Stale".into(),
        ..pb::Task::default()
    };
    assert_eq!(
        alice
            .update_task(update(stale, &["title"]))
            .await
            .unwrap_err()
            .code(),
        Code::Aborted
    );
    let current = alice
        .get_task(pb::GetTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let fresh = pb::Task {
        id: task.id,
        etag: current.etag,
        title: "Fresh".into(),
        ..pb::Task::default()
    };
    assert_eq!(
        alice
            .update_task(update(fresh, &["title"]))
            .await
            .unwrap()
            .into_inner()
            .title,
        "Fresh"
    );
}

#[tokio::test]
async fn moving_the_due_time_moves_its_reminders() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let due = Utc::now() + Duration::hours(3);
    let task = pb::Task {
        due_time: Some(timestamp(due)),
        reminders: vec![pb::Reminder {
            when: Some(pb::reminder::When::BeforeDue(prost_types::Duration {
                seconds: 600,
                nanos: 0,
            })),
        }],
        ..titled("Call")
    };
    let task = alice.create_task(create(task)).await.unwrap().into_inner();
    let later = due + Duration::days(1);
    let change = pb::Task {
        id: task.id.clone(),
        due_time: Some(timestamp(later)),
        ..pb::Task::default()
    };
    alice
        .update_task(update(change, &["due_time"]))
        .await
        .unwrap();
    let times: Vec<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT fire_time FROM reminders WHERE task_id = $1::uuid")
            .bind(&task.id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(times.len(), 1);
    assert_eq!(
        times[0].timestamp(),
        (later - Duration::minutes(10)).timestamp()
    );

    // Clearing the due time of a task with a relative reminder is refused.
    let clear = pb::Task {
        id: task.id,
        ..pb::Task::default()
    };
    let status = alice
        .update_task(update(clear, &["due_time"]))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["task.reminders[0].before_due"]);
}
