//! Recurring tasks through the API: the next occurrence appears exactly once,
//! on completion, cancellation or when the due time passes.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use prost_types::FieldMask;
use todogenie_proto::v1 as pb;

use crate::helpers::{create, spawn_app, timestamp, titled, TestApp};

async fn occurrences(app: &TestApp, series: &str) -> Vec<(String, chrono::DateTime<Utc>)> {
    sqlx::query_as("SELECT state, due_time FROM tasks WHERE series_id = $1::uuid ORDER BY due_time")
        .bind(series)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

fn berlin(y: i32, m: u32, d: u32, h: u32) -> chrono::DateTime<Utc> {
    chrono_tz::Europe::Berlin
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn completing_a_daily_task_creates_the_next_at_the_same_local_time_once() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    // The night clocks go forward in Berlin.
    let task = pb::Task {
        due_time: Some(timestamp(berlin(2027, 3, 27, 9))),
        time_zone: "Europe/Berlin".into(),
        recurrence: "daily".into(),
        reminders: vec![
            pb::Reminder {
                when: Some(pb::reminder::When::BeforeDue(prost_types::Duration {
                    seconds: 900,
                    nanos: 0,
                })),
            },
            pb::Reminder {
                when: Some(pb::reminder::When::AtTime(timestamp(berlin(
                    2027, 3, 26, 20,
                )))),
            },
        ],
        ..titled("Stretch")
    };
    let first = alice.create_task(create(task)).await.unwrap().into_inner();
    let done = alice
        .complete_task(pb::CompleteTaskRequest {
            id: first.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let next = done
        .next_occurrence
        .expect("completion creates the next occurrence");
    assert_eq!(
        next.due_time,
        Some(timestamp(berlin(2027, 3, 28, 9))),
        "09:00 local after the change"
    );
    assert_eq!(next.series_id, first.id);
    assert_eq!(next.state(), pb::TaskState::Pending);
    assert_eq!(
        next.reminders.len(),
        1,
        "relative reminders carry over, absolute ones do not"
    );
    assert!(matches!(
        next.reminders[0].when,
        Some(pb::reminder::When::BeforeDue(_))
    ));

    // Reopening and completing again makes no second one.
    let reopen = pb::UpdateTaskRequest {
        task: Some(pb::Task {
            id: first.id.clone(),
            state: pb::TaskState::Pending.into(),
            ..pb::Task::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["state".into()],
        }),
    };
    alice.update_task(reopen).await.unwrap();
    let again = alice
        .complete_task(pb::CompleteTaskRequest {
            id: first.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.next_occurrence.is_none());
    assert_eq!(occurrences(&app, &first.id).await.len(), 2);
}

#[tokio::test]
async fn cancelling_creates_the_next_and_count_ends_the_series() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let start = Utc.with_ymd_and_hms(2027, 1, 4, 18, 0, 0).unwrap(); // a Monday
    let task = pb::Task {
        due_time: Some(timestamp(start)),
        recurrence: "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=3".into(),
        ..titled("Choir")
    };
    let mut current = alice.create_task(create(task)).await.unwrap().into_inner();
    let series = current.id.clone();
    let mut dues = vec![current.due_time.unwrap().seconds];
    for _ in 0..3 {
        let cancel = pb::UpdateTaskRequest {
            task: Some(pb::Task {
                id: current.id.clone(),
                state: pb::TaskState::Cancelled.into(),
                ..pb::Task::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["state".into()],
            }),
        };
        alice.update_task(cancel).await.unwrap();
        let all = occurrences(&app, &series).await;
        let Some((_, due)) = all.iter().find(|(state, _)| state == "pending") else {
            break;
        };
        let id: uuid::Uuid = sqlx::query_scalar(
            "SELECT id FROM tasks WHERE series_id = $1::uuid AND state = 'pending'",
        )
        .bind(&series)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        dues.push(due.timestamp());
        current = alice
            .get_task(pb::GetTaskRequest { id: id.to_string() })
            .await
            .unwrap()
            .into_inner();
    }
    let expected: Vec<i64> = [(2027, 1, 4), (2027, 1, 6), (2027, 1, 11)]
        .iter()
        .map(|&(y, m, d)| Utc.with_ymd_and_hms(y, m, d, 18, 0, 0).unwrap().timestamp())
        .collect();
    assert_eq!(
        dues, expected,
        "Monday, Wednesday, Monday, then COUNT=3 ends it"
    );
}

#[tokio::test]
async fn a_passing_due_time_creates_the_next_occurrence_exactly_once_even_racing_completion() {
    let app = spawn_app().await;
    let tap = app.tap().await;
    let mut alice = app.user("alice").await;
    let due = Utc::now() + chrono::Duration::milliseconds(800);
    let task = pb::Task {
        due_time: Some(timestamp(due)),
        recurrence: "daily".into(),
        ..titled("Pills")
    };
    let first = alice.create_task(create(task)).await.unwrap().into_inner();

    // Race the scheduler: complete right around the due time.
    tokio::time::sleep(Duration::from_millis(790)).await;
    let completed = alice
        .complete_task(pb::CompleteTaskRequest {
            id: first.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    tap.wait_until(
        Duration::from_secs(10),
        "the next occurrence's created event",
        |all| {
            all.iter()
                .filter(|e| e.routing_key == "task.created")
                .count()
                >= 2
        },
    )
    .await;
    // The due time has passed: once the scheduler has handled it (and the
    // outbox is empty), a second next occurrence would already be written.
    app.settled(&tap).await;
    let all = occurrences(&app, &first.id).await;
    assert_eq!(all.len(), 2, "exactly one next occurrence: {all:?}");
    let next_due = all[1].1;
    assert_eq!(
        next_due.timestamp_micros(),
        (due + chrono::Duration::days(1)).timestamp_micros()
    );
    if let Some(next) = completed.next_occurrence {
        assert_eq!(next.due_time.unwrap().seconds, next_due.timestamp());
    }
    let created = tap
        .all()
        .into_iter()
        .filter(|e| e.routing_key == "task.created")
        .count();
    assert_eq!(created, 2);
}
