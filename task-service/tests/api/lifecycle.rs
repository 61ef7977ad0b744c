//! The lifecycle table, CompleteTask and SnoozeTask.

use prost_types::FieldMask;
use todogenie_proto::v1 as pb;
use tonic::Code;

use crate::helpers::{bad_fields, create, spawn_app, titled, Client};

async fn set_state(
    client: &mut Client,
    id: &str,
    state: pb::TaskState,
) -> Result<pb::Task, tonic::Status> {
    let request = pb::UpdateTaskRequest {
        task: Some(pb::Task {
            id: id.into(),
            state: state.into(),
            ..pb::Task::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["state".into()],
        }),
    };
    client
        .update_task(request)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn the_lifecycle_allows_exactly_the_contracts_transitions() {
    use pb::TaskState::*;
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let all = [Pending, InProgress, Completed, Archived, Cancelled];
    let allowed = [
        (Pending, InProgress),
        (Pending, Completed),
        (Pending, Cancelled),
        (InProgress, Pending),
        (InProgress, Completed),
        (InProgress, Cancelled),
        (Completed, Pending),
        (Completed, Archived),
        (Cancelled, Pending),
        (Cancelled, Archived),
    ];
    // A path from PENDING to each state, through allowed moves.
    let path_to = |s: pb::TaskState| -> Vec<pb::TaskState> {
        match s {
            Pending => vec![],
            InProgress => vec![InProgress],
            Completed => vec![Completed],
            Cancelled => vec![Cancelled],
            Archived => vec![Completed, Archived],
            Unspecified => unreachable!(),
        }
    };
    for from in all {
        for to in all {
            let task = alice
                .create_task(create(titled("Lifecycle")))
                .await
                .unwrap()
                .into_inner();
            for step in path_to(from) {
                set_state(&mut alice, &task.id, step).await.unwrap();
            }
            let result = set_state(&mut alice, &task.id, to).await;
            if from == to {
                let unchanged = result.expect("the same state again is a no-op");
                assert_eq!(unchanged.state(), from);
            } else if allowed.contains(&(from, to)) {
                assert_eq!(result.unwrap().state(), to, "{from:?} -> {to:?}");
            } else {
                let status = result.unwrap_err();
                assert_eq!(
                    status.code(),
                    Code::FailedPrecondition,
                    "{from:?} -> {to:?}"
                );
                assert!(
                    status.message().contains(from.as_str_name()),
                    "{}",
                    status.message()
                );
                assert!(
                    status.message().contains(to.as_str_name()),
                    "{}",
                    status.message()
                );
            }
        }
    }
}

#[tokio::test]
async fn completing_is_idempotent_and_reopening_clears_the_complete_time() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let task = alice
        .create_task(create(titled("Finish")))
        .await
        .unwrap()
        .into_inner();
    let done = alice
        .complete_task(pb::CompleteTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let completed = done.task.unwrap();
    assert_eq!(completed.state(), pb::TaskState::Completed);
    assert!(completed.complete_time.is_some());
    assert!(done.next_occurrence.is_none());

    let again = alice
        .complete_task(pb::CompleteTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.task.unwrap(),
        completed,
        "completing twice changes nothing"
    );

    let reopened = set_state(&mut alice, &task.id, pb::TaskState::Pending)
        .await
        .unwrap();
    assert!(reopened.complete_time.is_none());
    set_state(&mut alice, &task.id, pb::TaskState::Cancelled)
        .await
        .unwrap();
    let status = alice
        .complete_task(pb::CompleteTaskRequest { id: task.id })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn snoozing_stores_a_one_off_reminder_for_an_open_task() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let task = alice
        .create_task(create(titled("Later")))
        .await
        .unwrap()
        .into_inner();
    let before = chrono::Utc::now();
    let snoozed = alice
        .snooze_task(pb::SnoozeTaskRequest {
            id: task.id.clone(),
            duration: Some(prost_types::Duration {
                seconds: 3600,
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(snoozed.etag, task.etag);
    let (fire_time, source): (chrono::DateTime<chrono::Utc>, String) =
        sqlx::query_as("SELECT fire_time, source FROM reminders WHERE task_id = $1::uuid")
            .bind(&task.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(source, "snooze");
    let offset = fire_time - before;
    assert!(
        offset >= chrono::Duration::seconds(3599) && offset <= chrono::Duration::seconds(3610),
        "{offset}"
    );

    for bad in [0, -60, 400 * 86_400] {
        let status = alice
            .snooze_task(pb::SnoozeTaskRequest {
                id: task.id.clone(),
                duration: Some(prost_types::Duration {
                    seconds: bad,
                    nanos: 0,
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["duration"], "{bad}");
    }
    let status = alice
        .snooze_task(pb::SnoozeTaskRequest {
            id: task.id.clone(),
            duration: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["duration"]);

    alice
        .complete_task(pb::CompleteTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap();
    let status = alice
        .snooze_task(pb::SnoozeTaskRequest {
            id: task.id,
            duration: Some(prost_types::Duration {
                seconds: 60,
                nanos: 0,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
}
