//! GetTask and DeleteTask, and that users never see each other's tasks.

use task_service::auth::Role;
use todogenie_proto::v1 as pb;
use tonic::Code;

use crate::helpers::{bad_fields, create, spawn_app, titled};

#[tokio::test]
async fn another_users_task_is_not_found_but_admin_and_service_see_it() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let mut bob = app.user("bob").await;
    let task = alice
        .create_task(create(titled("Private")))
        .await
        .unwrap()
        .into_inner();

    let status = bob
        .get_task(pb::GetTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = bob
        .delete_task(pb::DeleteTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = bob
        .complete_task(pb::CompleteTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let update = pb::UpdateTaskRequest {
        task: Some(pb::Task {
            id: task.id.clone(),
            ..titled("Mine now")
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
    };
    assert_eq!(
        bob.update_task(update).await.unwrap_err().code(),
        Code::NotFound
    );

    // A missing task answers exactly as another's does: existence does not leak.
    let missing = bob
        .get_task(pb::GetTaskRequest {
            id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(missing.message(), status_message(&app, &task.id).await);

    for role in [Role::Admin, Role::Service] {
        let mut privileged = app.client("ops", role).await;
        let seen = privileged
            .get_task(pb::GetTaskRequest {
                id: task.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(seen.title, "Private");
    }
    let unchanged = alice
        .get_task(pb::GetTaskRequest { id: task.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged.title, "Private");
}

async fn status_message(app: &crate::helpers::TestApp, id: &str) -> String {
    let mut bob = app.user("bob").await;
    bob.get_task(pb::GetTaskRequest { id: id.into() })
        .await
        .unwrap_err()
        .message()
        .to_owned()
}

#[tokio::test]
async fn deleting_a_task_removes_it_and_its_reminders() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let due = chrono::Utc::now() + chrono::Duration::hours(1);
    let task = pb::Task {
        due_time: Some(crate::helpers::timestamp(due)),
        ..titled("Short-lived")
    };
    let task = alice.create_task(create(task)).await.unwrap().into_inner();

    alice
        .delete_task(pb::DeleteTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap();
    let status = alice
        .get_task(pb::GetTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let again = alice
        .delete_task(pb::DeleteTaskRequest { id: task.id })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    let reminders: i64 = sqlx::query_scalar("SELECT count(*) FROM reminders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(reminders, 0);
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_an_invalid_argument() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let status = alice
        .get_task(pb::GetTaskRequest {
            id: "42; DROP TABLE tasks".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["id"]);
    let status = alice
        .delete_task(pb::DeleteTaskRequest { id: String::new() })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["id"]);
}
