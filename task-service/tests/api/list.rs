//! ListTasks: filters, orderings, and keyset pages without duplicates or
//! gaps (who may list what, and page tokens, are in `list_access`).

use std::collections::HashSet;

use chrono::{Duration, TimeZone, Utc};
use task_service::auth::Role;
use todogenie_proto::v1 as pb;

use crate::helpers::{all_pages, bad_fields, create, spawn_app, timestamp, titled, Client};

pub(crate) fn list(order_by: &str, page_size: i32) -> pb::ListTasksRequest {
    pb::ListTasksRequest {
        order_by: order_by.into(),
        page_size,
        ..pb::ListTasksRequest::default()
    }
}

/// 230 tasks with few distinct priorities, titles and due times, so that
/// ties (and the id tie-break) are everywhere; every seventh has no due time.
pub(crate) async fn seed(client: &Client, owner_count: usize) -> Vec<pb::Task> {
    let base = Utc.with_ymd_and_hms(2030, 1, 1, 9, 0, 0).unwrap();
    let calls = (0..230).map(|i| {
        let mut client = client.clone();
        let task = pb::Task {
            owner: format!("user{}", i % owner_count),
            title: format!("Task {}", i % 23),
            priority: (i % 3 + 1) as i32,
            due_time: (i % 7 != 0).then(|| timestamp(base + Duration::hours((i % 11) as i64))),
            ..pb::Task::default()
        };
        tokio::spawn(async move { client.create_task(create(task)).await.unwrap().into_inner() })
    });
    futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

fn key(task: &pb::Task, field: &str) -> (i64, i64, String) {
    let ts = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .map(|t| t.seconds * 1_000_000_000 + i64::from(t.nanos))
    };
    match field {
        "priority" => (i64::from(task.priority), 0, String::new()),
        "title" => (0, 0, task.title.clone()),
        "create_time" => (ts(&task.create_time).unwrap(), 0, String::new()),
        "update_time" => (ts(&task.update_time).unwrap(), 0, String::new()),
        // NULL last: (is_null, value).
        "due_time" => (
            i64::from(task.due_time.is_none()),
            ts(&task.due_time).unwrap_or(0),
            String::new(),
        ),
        _ => unreachable!(),
    }
}

/// Checks that the pages held exactly `expected`, each task once, sorted by
/// `order_by` ("" is the default order).
fn assert_each_once_in_order(
    tasks: &[pb::Task],
    expected: &HashSet<String>,
    order_by: &str,
    page_size: i32,
) {
    let ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(
        ids.len(),
        unique.len(),
        "{order_by:?}/{page_size}: a task was repeated"
    );
    assert_eq!(
        &unique, expected,
        "{order_by:?}/{page_size}: a task was skipped or is extra"
    );
    let spelled = if order_by.is_empty() {
        "create_time desc"
    } else {
        order_by
    };
    assert_sorted(tasks, spelled);
}

/// Checks `tasks` is sorted by `order_by` as the contract says.
fn assert_sorted(tasks: &[pb::Task], order_by: &str) {
    let keys: Vec<(&str, bool)> = order_by
        .split(',')
        .map(|part| {
            let mut words = part.split_whitespace();
            (words.next().unwrap(), words.next() == Some("desc"))
        })
        .collect();
    let tie_desc = keys.last().unwrap().1;
    for pair in tasks.windows(2) {
        let mut ordering = std::cmp::Ordering::Equal;
        for (field, desc) in &keys {
            let (a, b) = (key(&pair[0], field), key(&pair[1], field));
            let o = if *field == "due_time" {
                // Nulls last whichever the direction.
                a.0.cmp(&b.0)
                    .then(if *desc { b.1.cmp(&a.1) } else { a.1.cmp(&b.1) })
            } else if *desc {
                b.cmp(&a)
            } else {
                a.cmp(&b)
            };
            if o != std::cmp::Ordering::Equal {
                ordering = o;
                break;
            }
        }
        if ordering == std::cmp::Ordering::Equal {
            let (a, b) = (
                uuid::Uuid::parse_str(&pair[0].id).unwrap(),
                uuid::Uuid::parse_str(&pair[1].id).unwrap(),
            );
            ordering = if tie_desc { b.cmp(&a) } else { a.cmp(&b) };
        }
        assert_eq!(
            ordering,
            std::cmp::Ordering::Less,
            "{order_by}: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test]
async fn pages_in_every_ordering_cover_all_tasks_once_in_order() {
    let app = spawn_app().await;
    let admin = app.client("root", Role::Admin).await;
    let created = seed(&admin, 1).await;
    let expected: HashSet<String> = created.iter().map(|t| t.id.clone()).collect();
    let mut owner = app.user("user0").await;

    for order_by in [
        "",
        "create_time",
        "due_time",
        "due_time desc",
        "priority desc, due_time",
        "priority, title desc, due_time desc",
        "title, priority",
        "update_time desc",
    ] {
        for page_size in [17, 100] {
            let tasks = all_pages(&mut owner, list(order_by, page_size)).await;
            assert_each_once_in_order(&tasks, &expected, order_by, page_size);
        }
    }
}

/// A filtered listing of one owner's tasks picks ids from an index first and
/// reads their rows after (see `store::list`): its pages must be the same
/// keyset pages, with nothing repeated or skipped, in every ordering.
#[tokio::test]
async fn filtered_pages_of_one_owner_cover_its_matching_tasks_once_in_order() {
    let app = spawn_app().await;
    let admin = app.client("root", Role::Admin).await;
    let created = seed(&admin, 1).await;
    let expected: HashSet<String> = created
        .iter()
        .filter(|t| t.priority >= 2)
        .map(|t| t.id.clone())
        .collect();
    assert!(expected.len() > 100, "the filter keeps several pages");
    let mut owner = app.user("user0").await;

    for order_by in [
        "",
        "due_time desc",
        "priority, title desc, due_time desc",
        "title",
    ] {
        for page_size in [17, 100] {
            let request = pb::ListTasksRequest {
                priorities: vec![2, 3],
                // Every title holds the word: it narrows nothing, but runs
                // the word filter through the same route.
                query: "task".into(),
                ..list(order_by, page_size)
            };
            let tasks = all_pages(&mut owner, request).await;
            assert_each_once_in_order(&tasks, &expected, order_by, page_size);
        }
    }
}

#[tokio::test]
async fn a_page_is_stable_under_concurrent_inserts_and_deletes() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    for i in 0..30 {
        alice
            .create_task(create(titled(&format!("T{i:02}"))))
            .await
            .unwrap();
    }
    let first = alice
        .list_tasks(list("title", 10))
        .await
        .unwrap()
        .into_inner();
    // Changes behind and ahead of the cursor do not make the next page repeat or skip.
    alice
        .delete_task(pb::DeleteTaskRequest {
            id: first.tasks[0].id.clone(),
        })
        .await
        .unwrap();
    alice.create_task(create(titled("T00a"))).await.unwrap();
    let mut request = list("title", 10);
    request.page_token = first.next_page_token;
    let second = alice.list_tasks(request).await.unwrap().into_inner();
    let titles: Vec<&str> = second.tasks.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(
        titles,
        ["T10", "T11", "T12", "T13", "T14", "T15", "T16", "T17", "T18", "T19"]
    );
}

#[tokio::test]
async fn filters_combine_and_match_as_the_contract_says() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let base = Utc.with_ymd_and_hms(2031, 6, 1, 12, 0, 0).unwrap();
    let specs = [
        (
            "Buy MILK",
            "at the corner shop",
            vec!["Home", "errand"],
            3,
            Some(0),
        ),
        (
            "Call plumber",
            "the kitchen sink leaks 100%",
            vec!["home"],
            1,
            Some(1),
        ),
        (
            "Quarterly report",
            "draft for the board before the ÉTÉ break",
            vec!["work"],
            3,
            Some(2),
        ),
        ("Water plants", "", vec![], 2, None),
    ];
    let mut ids = Vec::new();
    for (title, description, tags, priority, due_days) in specs {
        let task = pb::Task {
            title: title.into(),
            description: description.into(),
            tags: tags.into_iter().map(String::from).collect(),
            priority,
            due_time: due_days.map(|d| timestamp(base + Duration::days(d))),
            ..pb::Task::default()
        };
        ids.push(
            alice
                .create_task(create(task))
                .await
                .unwrap()
                .into_inner()
                .id,
        );
    }
    alice
        .complete_task(pb::CompleteTaskRequest { id: ids[3].clone() })
        .await
        .unwrap();

    let titles = |tasks: Vec<pb::Task>| {
        let mut t: Vec<String> = tasks.into_iter().map(|t| t.title).collect();
        t.sort();
        t
    };
    let mut run = async |request: pb::ListTasksRequest| {
        titles(alice.list_tasks(request).await.unwrap().into_inner().tasks)
    };

    let q = |query: &str| pb::ListTasksRequest {
        query: query.into(),
        ..Default::default()
    };
    assert_eq!(
        run(q("milk")).await,
        ["Buy MILK"],
        "case-insensitive, in the title"
    );
    assert_eq!(
        run(q("KITCH")).await,
        ["Call plumber"],
        "a substring of the description"
    );
    assert_eq!(
        run(q("the board")).await,
        ["Quarterly report"],
        "every word must match"
    );
    assert_eq!(
        run(q("été")).await,
        ["Quarterly report"],
        "case-insensitive beyond ASCII"
    );
    assert_eq!(
        run(q("100%")).await,
        ["Call plumber"],
        "% is a character, not a wildcard"
    );
    assert!(
        run(q("sh_p")).await.is_empty(),
        "_ is a character, not a wildcard"
    );

    let tags = |tags: &[&str]| pb::ListTasksRequest {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    };
    assert_eq!(run(tags(&["HOME"])).await, ["Buy MILK", "Call plumber"]);
    assert_eq!(
        run(tags(&["home", "Errand"])).await,
        ["Buy MILK"],
        "all of the tags"
    );

    let states = pb::ListTasksRequest {
        states: vec![pb::TaskState::Completed.into()],
        ..Default::default()
    };
    assert_eq!(run(states).await, ["Water plants"]);
    let priorities = pb::ListTasksRequest {
        priorities: vec![1, 2],
        ..Default::default()
    };
    assert_eq!(run(priorities).await, ["Call plumber", "Water plants"]);

    let window = pb::ListTasksRequest {
        due_after: Some(timestamp(base + Duration::days(1))),
        due_before: Some(timestamp(base + Duration::days(2))),
        ..Default::default()
    };
    assert_eq!(
        run(window).await,
        ["Call plumber"],
        "due_after inclusive, due_before exclusive"
    );

    let combined = pb::ListTasksRequest {
        query: "the".into(),
        priorities: vec![3],
        tags: vec!["work".into()],
        ..Default::default()
    };
    assert_eq!(run(combined).await, ["Quarterly report"]);
}

#[tokio::test]
async fn page_size_defaults_to_50_and_negative_is_invalid() {
    let app = spawn_app().await;
    let admin = app.client("root", Role::Admin).await;
    seed(&admin, 1).await;
    let mut owner = app.user("user0").await;
    let page = owner.list_tasks(list("", 0)).await.unwrap().into_inner();
    assert_eq!(page.tasks.len(), 50);
    let page = owner.list_tasks(list("", 5000)).await.unwrap().into_inner();
    assert_eq!(
        page.tasks.len(),
        230,
        "clamped to 1000, which holds them all"
    );
    assert!(page.next_page_token.is_empty());
    let status = owner.list_tasks(list("", -1)).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["page_size"]);
    let status = owner.list_tasks(list("owner desc", 10)).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["order_by"]);
}
