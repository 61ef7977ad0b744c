//! Bounded answers to unbounded asks: a long list is one violation, quoted
//! values are cut, a ListTasks page stays under 4 MiB, and recurrence rules
//! that would fire too often or cost too much are refused at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use todogenie_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{bad_fields, create, spawn_app, timestamp, titled};

#[tokio::test]
async fn lists_over_their_limit_are_one_violation_and_quotes_are_cut() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let task = pb::Task {
        tags: (0..3000)
            .map(|i| format!("{i}{}", "x".repeat(60)))
            .collect(),
        reminders: vec![pb::Reminder { when: None }; 11],
        time_zone: "Z".repeat(10_000),
        ..titled("ok")
    };
    let status = alice.create_task(create(task)).await.unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["task.tags", "task.time_zone", "task.reminders"]
    );
    let details = status.get_details_bad_request().unwrap();
    for violation in &details.field_violations {
        assert!(
            violation.description.chars().count() <= 200,
            "{} chars quoted back for {}",
            violation.description.chars().count(),
            violation.field
        );
    }
    assert!(status.message().len() <= 1000);

    let list = pb::ListTasksRequest {
        states: vec![99; 20_000],
        priorities: vec![1; 4],
        tags: vec!["t".into(); 21],
        ..pb::ListTasksRequest::default()
    };
    let status = alice.list_tasks(list).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["states", "priorities", "tags"]);

    // At the limits, every bad element is named.
    let list = pb::ListTasksRequest {
        states: vec![1, 99, 2, 98, 3],
        ..pb::ListTasksRequest::default()
    };
    let status = alice.list_tasks(list).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["states[1]", "states[3]"]);
    let mask = prost_types::FieldMask {
        paths: vec!["nope".into(); 10],
    };
    let status = alice
        .update_task(pb::UpdateTaskRequest {
            task: Some(pb::Task {
                id: uuid::Uuid::nil().to_string(),
                ..titled("x")
            }),
            update_mask: Some(mask),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["update_mask"]);
}

#[tokio::test]
async fn a_list_page_stays_under_4_mib_and_the_token_goes_on() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    // 10,000 four-byte characters: ~40 KB a task, 110 tasks ~4.4 MB.
    let description = "𝄞".repeat(10_000);
    let mut made = HashSet::new();
    for i in 0..110 {
        let task = alice
            .create_task(create(pb::Task {
                description: description.clone(),
                ..titled(&format!("big {i}"))
            }))
            .await
            .unwrap()
            .into_inner();
        made.insert(task.id);
    }
    let mut seen = HashSet::new();
    let mut page_token = String::new();
    let mut pages = Vec::new();
    loop {
        // A client with tonic's default 4 MiB receive limit reads every page.
        let page = alice
            .list_tasks(pb::ListTasksRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                ..pb::ListTasksRequest::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages.push(page.tasks.len());
        for task in page.tasks {
            assert!(seen.insert(task.id), "no task twice");
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, made);
    assert!(pages.len() >= 2 && pages[0] < 110, "{pages:?}");
}

#[tokio::test]
async fn rules_that_fire_too_often_or_never_are_refused_quickly() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let due = Some(timestamp(Utc::now() + chrono::Duration::minutes(5)));
    let with_rule = |rule: &str| pb::Task {
        recurrence: rule.into(),
        due_time: due,
        ..titled("again")
    };
    for rule in [
        "FREQ=SECONDLY",
        "FREQ=MINUTELY",
        "FREQ=MINUTELY;INTERVAL=1440",
        "FREQ=HOURLY;BYMINUTE=0,30",
        "FREQ=DAILY;BYHOUR=1,2,3,4,5,6,7,8,9,10,11,12,13;BYMINUTE=0,1",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30;BYHOUR=1",
    ] {
        let started = Instant::now();
        let status = alice
            .create_task(create(with_rule(rule)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{rule}: {status:?}");
        assert_eq!(bad_fields(&status), ["task.recurrence"], "{rule}");
        // Generous: the budget is 20 ms; this only catches a stall.
        assert!(started.elapsed() < Duration::from_secs(5), "{rule}");
    }
    // 500 characters exactly: accepted; two more: refused.
    let at_limit = format!("FREQ=DAILY;BYMONTH=1{}", ",1".repeat(240));
    assert_eq!(at_limit.len(), 500);
    alice
        .create_task(create(with_rule(&at_limit)))
        .await
        .expect("a rule of 500 characters");
    let over = format!("{at_limit},1");
    let status = alice
        .create_task(create(with_rule(&over)))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["task.recurrence"]);

    for rule in [
        "FREQ=HOURLY",
        "FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=DAILY;COUNT=1",
    ] {
        alice
            .create_task(create(with_rule(rule)))
            .await
            .unwrap_or_else(|e| panic!("{rule}: {e:?}"));
    }
    // The service answered everyone meanwhile.
    app.user("bob")
        .await
        .list_tasks(pb::ListTasksRequest::default())
        .await
        .unwrap();
}
