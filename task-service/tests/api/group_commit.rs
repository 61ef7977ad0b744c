//! CreateTasks that arrive together are written together (group commit),
//! and each caller still gets its own answer, its own error and its own
//! event.

use std::collections::HashSet;

use chrono::{Duration, Utc};
use todogenie_proto::v1 as pb;
use tonic::Code;

use crate::helpers::{bad_fields, create, spawn_app, timestamp, titled};

fn with_request_id(task: pb::Task, request_id: &str) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        task: Some(task),
        request_id: request_id.into(),
    }
}

#[tokio::test]
async fn calls_written_together_each_get_their_own_answer() {
    let app = spawn_app().await;
    let tap = app.tap().await;
    let alice = app.user("alice").await;
    let first = alice
        .clone()
        .create_task(with_request_id(titled("Kept"), "dup"))
        .await
        .expect("the first use of a request id")
        .into_inner();
    let due = Utc::now() + Duration::days(2);

    // Together: 28 new tasks (tags, a due time, a reminder each), 8 repeats
    // of the first request, 4 uses of its id for something else, 8 fresh ids.
    let mut requests = Vec::new();
    for i in 0..28 {
        let task = pb::Task {
            title: format!("Plain {i}"),
            tags: vec![format!("Tag{i}"), "Shared".into()],
            due_time: Some(timestamp(due)),
            reminders: vec![pb::Reminder {
                when: Some(pb::reminder::When::BeforeDue(prost_types::Duration {
                    seconds: 3600 + i64::from(i),
                    nanos: 0,
                })),
            }],
            ..pb::Task::default()
        };
        requests.push(("plain", create(task)));
    }
    for _ in 0..8 {
        requests.push(("repeat", with_request_id(titled("Kept"), "dup")));
    }
    for _ in 0..4 {
        requests.push(("reused", with_request_id(titled("Other"), "dup")));
    }
    for i in 0..8 {
        requests.push((
            "fresh",
            with_request_id(titled(&format!("Fresh {i}")), &format!("fresh-{i}")),
        ));
    }
    let calls = requests.into_iter().map(|(kind, request)| {
        let mut client = alice.clone();
        tokio::spawn(async move { (kind, request.clone(), client.create_task(request).await) })
    });
    let answers = futures::future::join_all(calls).await;

    let mut new_ids = HashSet::new();
    for answer in answers {
        let (kind, request, result) = answer.expect("no panic");
        match kind {
            "reused" => {
                let status = result.expect_err("a request id reused for another request");
                assert_eq!(bad_fields(&status), ["request_id"]);
            }
            "repeat" => assert_eq!(result.expect("a repeat").into_inner().id, first.id),
            _ => {
                let task = result.expect("a new task").into_inner();
                let asked = request.task.unwrap();
                assert_eq!(task.title, asked.title, "each caller gets its own task");
                assert_eq!(task.tags, asked.tags);
                assert_eq!(task.reminders, asked.reminders);
                assert!(new_ids.insert(task.id.clone()), "a task answered twice");
                if kind == "plain" {
                    let fire: Vec<chrono::DateTime<Utc>> = sqlx::query_scalar(
                        "SELECT fire_time FROM reminders WHERE task_id = $1::uuid",
                    )
                    .bind(&task.id)
                    .fetch_all(&app.pool)
                    .await
                    .unwrap();
                    let before = asked.reminders[0].when.as_ref().map(|k| match k {
                        pb::reminder::When::BeforeDue(d) => d.seconds,
                        _ => unreachable!(),
                    });
                    let expected = due - Duration::seconds(before.unwrap());
                    assert_eq!(fire.len(), 1, "its own fire time");
                    assert!((fire[0] - expected).num_milliseconds().abs() < 1000);
                }
            }
        }
    }
    assert_eq!(new_ids.len(), 28 + 8);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1 + 28 + 8);
    // One task.created per task made, none for the repeats or the refusals.
    let events = app
        .exactly(&tap, 1 + 28 + 8, "one created event per task")
        .await;
    let subjects: HashSet<String> = events
        .iter()
        .map(|e| e.body["subject"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(subjects.contains(&first.id));
    assert!(new_ids.is_subset(&subjects), "every new task has its event");
}

#[tokio::test]
async fn a_row_the_database_refuses_fails_only_its_own_call() {
    let app = spawn_app().await;
    // A fault only one row meets: PostgreSQL refuses a task titled "poison".
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.title = 'poison' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_poison BEFORE INSERT ON tasks \
             FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let alice = app.user("alice").await;
    let calls = (0..24).map(|i| {
        let mut client = alice.clone();
        let title = if i == 12 {
            "poison".to_owned()
        } else {
            format!("Good {i}")
        };
        tokio::spawn(async move {
            (
                title.clone(),
                client.create_task(create(titled(&title))).await,
            )
        })
    });
    for call in futures::future::join_all(calls).await {
        let (title, result) = call.expect("no panic");
        if title == "poison" {
            let status = result.expect_err("the refused row fails");
            assert_eq!(status.code(), Code::Internal, "{status:?}");
            assert!(
                !status.message().contains("refused"),
                "no database text leaks"
            );
        } else {
            assert_eq!(
                result.expect("its neighbours succeed").into_inner().title,
                title
            );
        }
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 23);
}
