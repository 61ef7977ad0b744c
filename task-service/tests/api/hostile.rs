//! A barrage of hostile requests: each gets a clean error, nothing is
//! written, nothing crashes, and the server answers correctly afterwards.

use prost_types::{Duration, FieldMask, Timestamp};
use todogenie_proto::v1 as pb;
use tonic::Code;

use crate::helpers::{create, spawn_app, titled};

#[tokio::test]
async fn hostile_requests_get_clean_errors_and_leave_no_trace() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let invalid_tasks: Vec<(&str, pb::Task)> = vec![
        ("empty title", titled("")),
        ("blank title", titled(" \t\n ")),
        ("huge title", titled(&"t".repeat(100_000))),
        ("NUL in title", titled("a\0b")),
        (
            "NUL in description",
            pb::Task {
                description: "x\0".into(),
                ..titled("ok")
            },
        ),
        (
            "NUL in tag",
            pb::Task {
                tags: vec!["a\0".into()],
                ..titled("ok")
            },
        ),
        (
            "unknown state",
            pb::Task {
                state: 99,
                ..titled("ok")
            },
        ),
        (
            "negative priority",
            pb::Task {
                priority: -1,
                ..titled("ok")
            },
        ),
        (
            "new task archived",
            pb::Task {
                state: pb::TaskState::Archived.into(),
                ..titled("ok")
            },
        ),
        (
            "bad zone",
            pb::Task {
                time_zone: "../../etc/passwd".into(),
                ..titled("ok")
            },
        ),
        (
            "offset zone",
            pb::Task {
                time_zone: "UTC+25".into(),
                ..titled("ok")
            },
        ),
        (
            "bad rrule",
            pb::Task {
                recurrence: "FREQ=DAILY;INTERVAL=-1".into(),
                due_time: Some(Timestamp {
                    seconds: 2_000_000_000,
                    nanos: 0,
                }),
                ..titled("ok")
            },
        ),
        (
            "rrule injection",
            pb::Task {
                recurrence: "FREQ=DAILY\nRRULE:FREQ=HOURLY".into(),
                due_time: Some(Timestamp {
                    seconds: 2_000_000_000,
                    nanos: 0,
                }),
                ..titled("ok")
            },
        ),
        (
            "timestamp past year 9999",
            pb::Task {
                due_time: Some(Timestamp {
                    seconds: i64::MAX,
                    nanos: 0,
                }),
                ..titled("ok")
            },
        ),
        (
            "negative nanos",
            pb::Task {
                due_time: Some(Timestamp {
                    seconds: 0,
                    nanos: -5,
                }),
                ..titled("ok")
            },
        ),
        (
            "empty reminder",
            pb::Task {
                reminders: vec![pb::Reminder { when: None }],
                ..titled("ok")
            },
        ),
        (
            "11 reminders",
            pb::Task {
                due_time: Some(Timestamp {
                    seconds: 2_000_000_000,
                    nanos: 0,
                }),
                reminders: (0..11)
                    .map(|i| pb::Reminder {
                        when: Some(pb::reminder::When::BeforeDue(Duration {
                            seconds: i,
                            nanos: 0,
                        })),
                    })
                    .collect(),
                ..titled("ok")
            },
        ),
        (
            "huge duration",
            pb::Task {
                due_time: Some(Timestamp {
                    seconds: 2_000_000_000,
                    nanos: 0,
                }),
                reminders: vec![pb::Reminder {
                    when: Some(pb::reminder::When::BeforeDue(Duration {
                        seconds: i64::MIN,
                        nanos: 0,
                    })),
                }],
                ..titled("ok")
            },
        ),
        (
            "owner too long",
            pb::Task {
                owner: "o".repeat(129),
                ..titled("ok")
            },
        ),
    ];
    for (case, task) in invalid_tasks {
        let status = alice.create_task(create(task)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
        assert!(!status.message().is_empty());
    }

    let long_id = pb::CreateTaskRequest {
        task: Some(titled("ok")),
        request_id: "r".repeat(129),
    };
    assert_eq!(
        alice.create_task(long_id).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    // Larger than the server decodes: refused before any handler runs.
    let oversized = titled(&"x".repeat(2 * 1024 * 1024));
    let status = alice.create_task(create(oversized)).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::ResourceExhausted | Code::OutOfRange),
        "oversized message: {status:?}"
    );

    let hostile_lists = vec![
        (
            "negative page size",
            pb::ListTasksRequest {
                page_size: i32::MIN,
                ..Default::default()
            },
        ),
        (
            "unknown state",
            pb::ListTasksRequest {
                states: vec![42],
                ..Default::default()
            },
        ),
        (
            "unspecified priority",
            pb::ListTasksRequest {
                priorities: vec![0],
                ..Default::default()
            },
        ),
        (
            "empty tag",
            pb::ListTasksRequest {
                tags: vec!["".into()],
                ..Default::default()
            },
        ),
        (
            "huge query",
            pb::ListTasksRequest {
                query: "q".repeat(501),
                ..Default::default()
            },
        ),
        (
            "sql in order_by",
            pb::ListTasksRequest {
                order_by: "title; DROP TABLE tasks".into(),
                ..Default::default()
            },
        ),
        (
            "bad bound",
            pb::ListTasksRequest {
                due_before: Some(Timestamp {
                    seconds: 0,
                    nanos: 1_000_000_000,
                }),
                ..Default::default()
            },
        ),
        (
            "bad token",
            pb::ListTasksRequest {
                page_token: "\u{1F4A3}".into(),
                ..Default::default()
            },
        ),
    ];
    for (case, request) in hostile_lists {
        let status = alice.list_tasks(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
    }

    let bad_update = pb::UpdateTaskRequest {
        task: Some(pb::Task {
            id: "not-a-uuid".into(),
            ..titled("x")
        }),
        update_mask: Some(FieldMask {
            paths: vec!["title".into()],
        }),
    };
    assert_eq!(
        alice.update_task(bad_update).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let no_task = pb::UpdateTaskRequest {
        task: None,
        update_mask: None,
    };
    assert_eq!(
        alice.update_task(no_task).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    let mut forged = app
        .client_with_authorization(Some(
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl",
        ))
        .await;
    assert_eq!(
        forged
            .create_task(create(titled("x")))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );

    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(written, 0, "no hostile request wrote anything");

    // And the server still does its job.
    let task = alice
        .create_task(create(titled("Still here")))
        .await
        .unwrap()
        .into_inner();
    let fetched = alice
        .get_task(pb::GetTaskRequest { id: task.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched.title, "Still here");
}
