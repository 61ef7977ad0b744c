//! `today`, end to end: it lists exactly today's and overdue open tasks
//! (the contact's own, in the contact's zone), and a picked row's Done
//! completes that task.

use chrono::{TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use todogenie_proto::v1 as pb;

use crate::helpers::{poll, spawn_end_to_end, Tasks};
use crate::talk::{body_text, first_button_id, inbound_done, wait_answers, DIGITS, PHONE, WAIT};

async fn create(tasks: &mut Tasks, title: &str, due: Option<chrono::DateTime<Utc>>) -> pb::Task {
    tasks
        .create_task(pb::CreateTaskRequest {
            task: Some(pb::Task {
                title: title.into(),
                due_time: due.map(|d| prost_types::Timestamp {
                    seconds: d.timestamp(),
                    nanos: 0,
                }),
                ..pb::Task::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("CreateTask")
        .into_inner()
}

#[tokio::test]
async fn today_lists_todays_and_overdue_open_tasks_and_a_picked_rows_done_completes_it() {
    let pair = spawn_end_to_end().await;
    pair.contact("alice", PHONE).await;
    let mut alice = pair.tasks_client("alice").await;
    let mut bob = pair.tasks_client("bob").await;
    let now = Utc::now();
    let midnight = Berlin
        .from_local_datetime(
            &(now.with_timezone(&Berlin).date_naive() + chrono::Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        )
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    let overdue = create(
        &mut alice,
        "overdue rent",
        Some(now - chrono::Duration::hours(30)),
    )
    .await;
    let later_today = create(
        &mut alice,
        "a title longer than twenty-four characters",
        Some(now + (midnight - now) / 2),
    )
    .await;
    create(
        &mut alice,
        "tomorrow's",
        Some(midnight + chrono::Duration::hours(1)),
    )
    .await;
    create(&mut alice, "someday", None).await;
    let done = create(
        &mut alice,
        "done already",
        Some(now - chrono::Duration::hours(1)),
    )
    .await;
    alice
        .complete_task(pb::CompleteTaskRequest {
            id: done.id.clone(),
        })
        .await
        .unwrap();
    create(
        &mut bob,
        "bob's today",
        Some(now - chrono::Duration::minutes(5)),
    )
    .await;

    assert_eq!(pair.standin.user_writes(DIGITS, "Today").await, 200);
    let list = wait_answers(&pair, DIGITS, "interactive", 1).await;
    let interactive = &list[0].body["interactive"];
    assert_eq!(interactive["type"], "list");
    let rows = interactive["action"]["sections"][0]["rows"]
        .as_array()
        .unwrap()
        .clone();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            format!("task:{}", overdue.id),
            format!("task:{}", later_today.id)
        ]
    );
    assert_eq!(rows[1]["title"].as_str().unwrap().chars().count(), 24);
    assert!(rows[0]["description"]
        .as_str()
        .unwrap()
        .starts_with("Overdue since"));

    assert_eq!(pair.standin.user_picks(DIGITS, ids[0]).await, 200);
    let buttons = wait_answers(&pair, DIGITS, "interactive", 2).await;
    assert!(body_text(&buttons[1]).starts_with("overdue rent"));
    let done_id = first_button_id(&buttons[1]);
    assert_eq!(done_id, format!("task-done:{}", overdue.id));
    assert_eq!(
        pair.standin.user_presses(DIGITS, &done_id, false).await,
        200
    );
    let reaction = wait_answers(&pair, DIGITS, "reaction", 1).await;
    assert_eq!(reaction[0].body["reaction"]["emoji"], "✅");
    let task = alice
        .get_task(pb::GetTaskRequest {
            id: overdue.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(task.state(), pb::TaskState::Completed);
    // Another number cannot act on alice's task by naming it.
    pair.contact("mallory", "+14155550166").await;
    let mut reader = pair.tasks_client("alice").await;
    assert_eq!(
        pair.standin
            .user_presses(
                "14155550166",
                &format!("task-done:{}", later_today.id),
                false
            )
            .await,
        200
    );
    poll(WAIT, "mallory's press handled", || async {
        inbound_done(&pair).await >= 4
    })
    .await;
    let untouched = reader
        .get_task(pb::GetTaskRequest {
            id: later_today.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(untouched.state(), pb::TaskState::Pending);
}
