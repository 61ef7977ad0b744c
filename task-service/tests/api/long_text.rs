//! Tasks at every text limit, in text that does not compress: created alone
//! and in batches, changed, found by search and tag, and listed in every
//! order and page size among ordinary tasks. A B-tree entry holds at most
//! 2,704 bytes, so an index that carried such a task's text whole would
//! refuse it (as `tasks_owner_create_cover` did, with `INTERNAL`).

use std::collections::HashSet;

use task_service::auth::Role;
use todogenie_proto::v1 as pb;

use crate::helpers::{all_pages, create, spawn_app, timestamp, titled, Client};

/// `n` characters of four UTF-8 bytes each (CJK Extension B), drawn at
/// random: PostgreSQL's compression gains nothing on them.
fn noise(n: usize) -> String {
    let mut out = String::with_capacity(4 * n);
    while out.chars().count() < n {
        for pair in uuid::Uuid::new_v4().as_bytes().chunks(2) {
            let offset = u32::from(u16::from_le_bytes([pair[0], pair[1]])) % 0xA6D0;
            out.push(char::from_u32(0x2_0000 + offset).expect("a CJK Extension B character"));
        }
    }
    out.chars().take(n).collect()
}

/// A task at every text limit: a 500-character title, a 10,000-character
/// description and 20 tags of 50 characters, about 42 kB of UTF-8.
fn at_every_limit() -> pb::Task {
    pb::Task {
        title: noise(500),
        description: noise(10_000),
        tags: (0..20).map(|_| noise(50)).collect(),
        ..titled("unused")
    }
}

fn ids(tasks: &[pb::Task]) -> Vec<String> {
    tasks.iter().map(|t| t.id.clone()).collect()
}

/// The ids `request` lists, in order, read in pages of 2.
async fn listed(client: &mut Client, request: pb::ListTasksRequest) -> Vec<String> {
    ids(&all_pages(
        client,
        pb::ListTasksRequest {
            page_size: 2,
            ..request
        },
    )
    .await)
}

#[tokio::test]
async fn tasks_at_every_text_limit_are_created_changed_found_and_listed() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;

    // Alone, one after another, among ordinary tasks.
    let mut made = Vec::new();
    for i in 0..3 {
        let small = alice.create_task(create(titled(&format!("small {i}"))));
        made.push(small.await.unwrap().into_inner());
        let big = alice.create_task(create(at_every_limit())).await;
        made.push(big.expect("a task at every limit is created").into_inner());
    }
    // At once, so that they share group commit's batches.
    let at_once = (0..8).map(|i| {
        let mut client = alice.clone();
        async move {
            let task = if i % 2 == 0 {
                at_every_limit()
            } else {
                titled(&format!("small at once {i}"))
            };
            client.create_task(create(task)).await
        }
    });
    for created in futures::future::join_all(at_once).await {
        made.push(
            created
                .expect("every task of a batch is created")
                .into_inner(),
        );
    }
    let big = made[1].clone();
    let only_big = vec![big.id.clone()];
    assert_eq!(big.description.chars().count(), 10_000);
    assert_eq!(big.tags.len(), 20);

    // Every order, in pages of 2, lists each task once and in its order.
    let mut newest_first = made.clone();
    newest_first.sort_by_key(|t| {
        let time = t.create_time.unwrap();
        std::cmp::Reverse((time.seconds, time.nanos, t.id.clone()))
    });
    let default = listed(&mut alice, pb::ListTasksRequest::default()).await;
    assert_eq!(default, ids(&newest_first), "default order");
    let mut by_title = made.clone();
    by_title.sort_by(|a, b| (&a.title, &a.id).cmp(&(&b.title, &b.id)));
    let request = pb::ListTasksRequest {
        order_by: "title".into(),
        ..Default::default()
    };
    assert_eq!(
        listed(&mut alice, request).await,
        ids(&by_title),
        "by title"
    );
    for order_by in ["due_time", "priority desc", "update_time"] {
        let request = pb::ListTasksRequest {
            order_by: order_by.into(),
            ..Default::default()
        };
        let got: HashSet<_> = listed(&mut alice, request).await.into_iter().collect();
        assert_eq!(got, ids(&made).into_iter().collect(), "{order_by}");
    }

    // Found by a word from the middle of its description, by a tag, by both.
    let word: String = big.description.chars().skip(5_000).take(3).collect();
    let by_word = pb::ListTasksRequest {
        query: word.clone(),
        ..Default::default()
    };
    assert_eq!(listed(&mut alice, by_word.clone()).await, only_big);
    let by_tag_and_word = pb::ListTasksRequest {
        tags: vec![big.tags[19].clone()],
        ..by_word.clone()
    };
    assert_eq!(listed(&mut alice, by_tag_and_word).await, only_big);
    let smalls = pb::ListTasksRequest {
        query: "small".into(),
        ..Default::default()
    };
    assert_eq!(listed(&mut alice, smalls).await.len(), 7);

    // An admin finds it among everyone's tasks and among alice's.
    let mut admin = app.client("root", Role::Admin).await;
    assert_eq!(listed(&mut admin, by_word.clone()).await, only_big);
    let alices = pb::ListTasksRequest {
        owner: "alice".into(),
        ..by_word.clone()
    };
    assert_eq!(listed(&mut admin, alices).await, only_big);

    // Changed to other text at every limit, and completed.
    let changed = alice
        .update_task(pb::UpdateTaskRequest {
            task: Some(pb::Task {
                id: big.id.clone(),
                due_time: Some(timestamp(chrono::Utc::now())),
                ..at_every_limit()
            }),
            update_mask: None,
        })
        .await
        .expect("a task changed to text at every limit")
        .into_inner();
    assert!(
        listed(&mut alice, by_word).await.is_empty(),
        "the old text is gone"
    );
    let new_word: String = changed.description.chars().skip(9_990).take(3).collect();
    let found = pb::ListTasksRequest {
        query: new_word,
        ..Default::default()
    };
    assert_eq!(listed(&mut alice, found).await, only_big);
    alice
        .complete_task(pb::CompleteTaskRequest { id: big.id.clone() })
        .await
        .unwrap();
    let completed = pb::ListTasksRequest {
        states: vec![pb::TaskState::Completed.into()],
        ..Default::default()
    };
    assert_eq!(listed(&mut alice, completed).await, only_big);

    // The longest owner and request id with the longest title: every entry
    // that holds them (`tasks_owner_title`, the request-id claims, the
    // quota's count) stays within a B-tree entry's 2,704 bytes.
    let mut longest = app.user(&noise(128)).await;
    let request = pb::CreateTaskRequest {
        task: Some(at_every_limit()),
        request_id: noise(128),
    };
    let first = longest
        .create_task(request.clone())
        .await
        .expect("the longest owner's task at every limit is created")
        .into_inner();
    let again = longest.create_task(request).await.unwrap().into_inner();
    assert_eq!(
        again.id, first.id,
        "the repeated request id returns the first"
    );
    let by_title = pb::ListTasksRequest {
        order_by: "title".into(),
        ..Default::default()
    };
    assert_eq!(listed(&mut longest, by_title).await, [first.id]);
}
