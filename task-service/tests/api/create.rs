//! CreateTask: defaults, ownership, reminders, idempotent request ids, validation.

use chrono::{Duration, Utc};
use task_service::auth::Role;
use todogenie_proto::v1 as pb;
use tonic::Code;

use crate::helpers::{bad_fields, create, spawn_app, timestamp, titled};

async fn task_count(app: &crate::helpers::TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn fire_times(app: &crate::helpers::TestApp, id: &str) -> Vec<chrono::DateTime<Utc>> {
    sqlx::query_scalar(
        "SELECT fire_time FROM reminders WHERE task_id = $1::uuid ORDER BY fire_time",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_new_task_is_trimmed_owned_by_its_creator_and_has_the_defaults() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let task = alice
        .create_task(create(titled("  Pay rent \n")))
        .await
        .unwrap()
        .into_inner();

    assert!(uuid::Uuid::parse_str(&task.id).is_ok());
    assert_eq!(task.title, "Pay rent");
    assert_eq!(task.owner, "alice");
    assert_eq!(task.state(), pb::TaskState::Pending);
    assert_eq!(task.priority(), pb::Priority::Medium);
    assert_eq!(task.time_zone, "UTC");
    assert!(task.series_id.is_empty());
    assert!(!task.etag.is_empty());
    assert!(task.create_time.is_some() && task.create_time == task.update_time);

    let fetched = alice
        .get_task(pb::GetTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, task, "what CreateTask returns is what was stored");
}

#[tokio::test]
async fn a_due_task_without_reminders_is_reminded_at_its_due_time_and_listed_ones_replace_it() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let due = Utc::now() + Duration::hours(2);
    let implicit = alice
        .create_task(create(pb::Task {
            due_time: Some(timestamp(due)),
            ..titled("Dentist")
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        implicit.reminders.is_empty(),
        "the implicit reminder is not listed"
    );
    let times = fire_times(&app, &implicit.id).await;
    assert_eq!(times.len(), 1);
    assert_eq!(times[0].timestamp(), due.timestamp());

    let listed = pb::Task {
        due_time: Some(timestamp(due)),
        reminders: vec![
            pb::Reminder {
                when: Some(pb::reminder::When::BeforeDue(prost_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                })),
            },
            // Already past when set: kept on the task but never fires.
            pb::Reminder {
                when: Some(pb::reminder::When::AtTime(timestamp(
                    Utc::now() - Duration::hours(1),
                ))),
            },
        ],
        ..titled("Dentist, reminded early")
    };
    let task = alice
        .create_task(create(listed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(task.reminders.len(), 2);
    let times = fire_times(&app, &task.id).await;
    assert_eq!(
        times.len(),
        1,
        "only the future reminder is scheduled: {times:?}"
    );
    assert_eq!(times[0].timestamp(), (due - Duration::hours(1)).timestamp());
}

#[tokio::test]
async fn a_repeated_request_id_returns_the_first_task_and_creates_nothing() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let request = pb::CreateTaskRequest {
        task: Some(titled("Once")),
        request_id: "req-1".into(),
    };
    let first = alice
        .create_task(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = alice
        .create_task(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(task_count(&app).await, 1);

    // Another owner's key space is separate.
    let mut bob = app.user("bob").await;
    let bobs = bob.create_task(request).await.unwrap().into_inner();
    assert_ne!(bobs.id, first.id);

    // The same id with other content is a mistake, not a replay.
    let other = pb::CreateTaskRequest {
        task: Some(titled("Twice?")),
        request_id: "req-1".into(),
    };
    let status = alice.create_task(other).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["request_id"]);
    assert_eq!(task_count(&app).await, 2);
}

#[tokio::test]
async fn concurrent_requests_with_one_request_id_create_one_task() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let request = pb::CreateTaskRequest {
        task: Some(titled("Race")),
        request_id: "race-1".into(),
    };
    let calls = (0..16).map(|_| {
        let mut client = alice.clone();
        let request = request.clone();
        tokio::spawn(async move { client.create_task(request).await.map(|r| r.into_inner().id) })
    });
    let ids: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(task_count(&app).await, 1);
}

#[tokio::test]
async fn only_admin_and_service_callers_create_tasks_for_someone_else() {
    let app = spawn_app().await;
    let for_bob = pb::Task {
        owner: "bob".into(),
        ..titled("For Bob")
    };
    let mut alice = app.user("alice").await;
    let status = alice
        .create_task(create(for_bob.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    for role in [Role::Admin, Role::Service] {
        let mut privileged = app.client("ops", role).await;
        let task = privileged
            .create_task(create(for_bob.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(task.owner, "bob");
    }
    assert_eq!(task_count(&app).await, 2);
}

#[tokio::test]
async fn every_invalid_field_is_named_in_one_answer_and_nothing_is_written() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let task = pb::Task {
        title: "x".repeat(501),
        description: "d".repeat(10_001),
        priority: 7,
        tags: (0..21)
            .map(|i| format!("tag{i}"))
            .chain(["  ".to_string()])
            .collect(),
        time_zone: "Europe/Atlantis".into(),
        recurrence: "FREQ=DAILY".into(),
        reminders: vec![pb::Reminder {
            when: Some(pb::reminder::When::BeforeDue(prost_types::Duration {
                seconds: 60,
                nanos: 0,
            })),
        }],
        ..pb::Task::default()
    };
    let status = alice.create_task(create(task)).await.unwrap_err();
    let fields = bad_fields(&status);
    for expected in [
        "task.title",
        "task.description",
        "task.priority",
        "task.tags",
        "task.time_zone",
    ] {
        assert!(
            fields.contains(&expected.to_string()),
            "{expected} missing from {fields:?}"
        );
    }
    assert!(
        !fields.iter().any(|f| f.starts_with("task.tags[")),
        "a list over its limit is one violation, not one per element: {fields:?}"
    );

    // With the field errors fixed, the schedule rules speak: no due time.
    let task = pb::Task {
        recurrence: "weekly".into(),
        reminders: vec![pb::Reminder {
            when: Some(pb::reminder::When::BeforeDue(prost_types::Duration {
                seconds: 60,
                nanos: 0,
            })),
        }],
        ..titled("Recurring without a due time")
    };
    let status = alice.create_task(create(task)).await.unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["task.recurrence", "task.reminders[0].before_due"]
    );

    let status = alice
        .create_task(pb::CreateTaskRequest::default())
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["task"]);
    assert_eq!(task_count(&app).await, 0);
}

#[tokio::test]
async fn rrules_are_checked_and_stored_normalised_with_a_series() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let due = Utc::now() + Duration::days(1);
    let task = pb::Task {
        due_time: Some(timestamp(due)),
        time_zone: "Europe/Berlin".into(),
        recurrence: "freq=weekly;byday=mo,we;count=10".into(),
        ..titled("Gym")
    };
    let created = alice.create_task(create(task)).await.unwrap().into_inner();
    assert_eq!(created.recurrence, "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10");
    assert_eq!(
        created.series_id, created.id,
        "the first occurrence starts the series"
    );

    for bad in [
        "FREQ=HOURLY;BYDAY=XX",
        "FREQ=SOMETIMES",
        "every tuesday",
        "DTSTART:20270101T000000Z\nRRULE:FREQ=DAILY",
    ] {
        let task = pb::Task {
            due_time: Some(timestamp(due)),
            recurrence: bad.into(),
            ..titled("Bad rule")
        };
        let status = alice.create_task(create(task)).await.unwrap_err();
        assert_eq!(bad_fields(&status), ["task.recurrence"], "{bad}");
    }
}
