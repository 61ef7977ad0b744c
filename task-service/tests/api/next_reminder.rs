//! `next_reminder_time`: what a client sees of when the next reminder comes,
//! through every change that moves it; and the scheduler firing a row whose
//! zone the tz database does not know.

use std::time::Duration;

use chrono::{DateTime, Utc};
use prost_types::FieldMask;
use todogenie_proto::v1 as pb;

use crate::helpers::{create, spawn_app, timestamp, titled, Client};

fn next_of(task: &pb::Task) -> Option<DateTime<Utc>> {
    task.next_reminder_time
        .as_ref()
        .map(|t| DateTime::from_timestamp(t.seconds, t.nanos as u32).unwrap())
}

fn at(time: DateTime<Utc>) -> pb::Reminder {
    pb::Reminder {
        when: Some(pb::reminder::When::AtTime(timestamp(time))),
    }
}

fn before(seconds: i64) -> pb::Reminder {
    pb::Reminder {
        when: Some(pb::reminder::When::BeforeDue(prost_types::Duration {
            seconds,
            nanos: 0,
        })),
    }
}

/// Microseconds, as stored.
fn micros(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap()
}

async fn update(client: &mut Client, task: pb::Task, paths: &[&str]) -> pb::Task {
    client
        .update_task(pb::UpdateTaskRequest {
            task: Some(task),
            update_mask: Some(FieldMask {
                paths: paths.iter().map(|p| p.to_string()).collect(),
            }),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn get(client: &mut Client, id: &str) -> pb::Task {
    client
        .get_task(pb::GetTaskRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn next_reminder_time_follows_due_time_reminders_snoozes_and_completion() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let due = micros(Utc::now() + chrono::Duration::hours(2));

    // The implicit reminder at the due time; none without a due time.
    let plain = alice
        .create_task(create(pb::Task {
            due_time: Some(timestamp(due)),
            ..titled("Implicit")
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_of(&plain), Some(due));
    let undated = alice
        .create_task(create(titled("Someday")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_of(&undated), None);

    // The earliest of its reminders; a passed one does not count.
    let task = alice
        .create_task(create(pb::Task {
            due_time: Some(timestamp(due)),
            reminders: vec![
                before(600),
                at(due + chrono::Duration::minutes(10)),
                at(Utc::now() - chrono::Duration::minutes(1)),
            ],
            ..titled("Dentist")
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_of(&task), Some(due - chrono::Duration::minutes(10)));
    assert_eq!(next_of(&get(&mut alice, &task.id).await), next_of(&task));

    // Moving the due time moves the relative reminder past the absolute one.
    let later = due + chrono::Duration::hours(1);
    let moved = update(
        &mut alice,
        pb::Task {
            id: task.id.clone(),
            due_time: Some(timestamp(later)),
            ..titled("")
        },
        &["due_time"],
    )
    .await;
    assert_eq!(next_of(&moved), Some(due + chrono::Duration::minutes(10)));

    // New reminders replace the old.
    let soon = micros(Utc::now() + chrono::Duration::minutes(30));
    let reminded = update(
        &mut alice,
        pb::Task {
            id: task.id.clone(),
            reminders: vec![at(soon)],
            ..titled("")
        },
        &["reminders"],
    )
    .await;
    assert_eq!(next_of(&reminded), Some(soon));

    // A snooze earlier than that shows; a later one would not.
    let before_snooze = Utc::now();
    let snoozed = alice
        .snooze_task(pb::SnoozeTaskRequest {
            id: task.id.clone(),
            duration: Some(prost_types::Duration {
                seconds: 300,
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let shown = next_of(&snoozed).expect("the snooze");
    assert!(
        shown >= micros(before_snooze + chrono::Duration::minutes(5))
            && shown <= Utc::now() + chrono::Duration::minutes(5),
        "{shown}"
    );
    // The snooze stays when the rules change again.
    let kept = update(
        &mut alice,
        pb::Task {
            id: task.id.clone(),
            reminders: vec![before(0)],
            ..titled("")
        },
        &["reminders"],
    )
    .await;
    assert_eq!(next_of(&kept), Some(shown));

    // Closed: nothing fires. Reopened: it shows again.
    let done = alice
        .complete_task(pb::CompleteTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_of(done.task.as_ref().unwrap()), None);
    assert_eq!(next_of(&get(&mut alice, &task.id).await), None);
    let reopened = update(
        &mut alice,
        pb::Task {
            id: task.id.clone(),
            state: pb::TaskState::Pending.into(),
            ..titled("")
        },
        &["state"],
    )
    .await;
    assert_eq!(next_of(&reopened), Some(shown));

    // ListTasks shows it too.
    let listed = alice
        .list_tasks(pb::ListTasksRequest::default())
        .await
        .unwrap()
        .into_inner();
    let listed = listed.tasks.iter().find(|t| t.id == task.id).unwrap();
    assert_eq!(next_of(listed), Some(shown));
}

#[tokio::test]
async fn a_recurring_tasks_next_occurrence_shows_its_own_next_reminder() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let due = micros(Utc::now() + chrono::Duration::hours(1));
    let first = alice
        .create_task(create(pb::Task {
            due_time: Some(timestamp(due)),
            recurrence: "daily".into(),
            reminders: vec![before(900)],
            ..titled("Stretch")
        }))
        .await
        .unwrap()
        .into_inner();
    let done = alice
        .complete_task(pb::CompleteTaskRequest { id: first.id })
        .await
        .unwrap()
        .into_inner();
    let next = done.next_occurrence.expect("a daily task goes on");
    let next_due = due + chrono::Duration::days(1);
    assert_eq!(
        next_of(&next),
        Some(next_due - chrono::Duration::minutes(15))
    );
    assert_eq!(next_of(&get(&mut alice, &next.id).await), next_of(&next));
}

#[tokio::test]
async fn a_fired_reminder_gives_way_to_the_next() {
    let app = spawn_app().await;
    let tap = app.tap().await;
    let mut alice = app.user("alice").await;
    let first = micros(Utc::now() + chrono::Duration::milliseconds(1200));
    let second = micros(Utc::now() + chrono::Duration::hours(1));
    let task = alice
        .create_task(create(pb::Task {
            reminders: vec![at(second), at(first)],
            ..titled("Twice")
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_of(&task), Some(first));
    tap.wait_until(Duration::from_secs(10), "the first reminder", |all| {
        all.iter().any(|e| e.routing_key == "task.due")
    })
    .await;
    assert_eq!(next_of(&get(&mut alice, &task.id).await), Some(second));
}

#[tokio::test]
async fn a_row_with_an_unknown_zone_fires_in_utc_and_does_not_fail_its_batch() {
    let app = spawn_app().await;
    let tap = app.tap().await;
    let mut alice = app.user("alice").await;
    let due = Utc::now() + chrono::Duration::milliseconds(1500);
    let mut ids = Vec::new();
    for title in ["Withdrawn zone", "Fine zone"] {
        let task = alice
            .create_task(create(pb::Task {
                due_time: Some(timestamp(due)),
                time_zone: "Europe/Berlin".into(),
                ..titled(title)
            }))
            .await
            .unwrap()
            .into_inner();
        ids.push(task.id);
    }
    // As if a tz database update withdrew the zone after it was stored.
    sqlx::query("UPDATE tasks SET time_zone = 'Mars/Olympus' WHERE id = $1::uuid")
        .bind(&ids[0])
        .execute(&app.pool)
        .await
        .unwrap();
    let events = tap
        .wait_until(Duration::from_secs(10), "both reminders", |all| {
            all.iter().filter(|e| e.routing_key == "task.due").count() == 2
        })
        .await;
    let zone_of = |id: &str| {
        events
            .iter()
            .find(|e| e.routing_key == "task.due" && e.body["subject"] == id)
            .map(|e| e.body["data"]["task"]["timeZone"].clone())
            .unwrap()
    };
    assert_eq!(zone_of(&ids[0]), "UTC");
    assert_eq!(zone_of(&ids[1]), "Europe/Berlin");
    // And the task still reads.
    assert_eq!(get(&mut alice, &ids[0]).await.time_zone, "UTC");
}
