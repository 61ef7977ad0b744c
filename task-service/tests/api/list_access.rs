//! Who lists what: users their own tasks, admins and services anyone's; and
//! page tokens that work only unchanged, for their caller and their query.

use task_service::auth::Role;
use todogenie_proto::v1 as pb;
use tonic::Code;

use crate::helpers::{all_pages, bad_fields, create, spawn_app, titled};
use crate::list::{list, seed};

#[tokio::test]
async fn users_list_their_own_tasks_and_admins_anyones() {
    let app = spawn_app().await;
    let admin_client = app.client("root", Role::Admin).await;
    seed(&admin_client, 2).await;

    let mut user0 = app.user("user0").await;
    let own = all_pages(&mut user0, list("", 100)).await;
    assert_eq!(own.len(), 115);
    assert!(own.iter().all(|t| t.owner == "user0"));
    let named_self = pb::ListTasksRequest {
        owner: "user0".into(),
        page_size: 1000,
        ..Default::default()
    };
    assert_eq!(
        user0
            .list_tasks(named_self)
            .await
            .unwrap()
            .into_inner()
            .tasks
            .len(),
        115
    );
    let other = pb::ListTasksRequest {
        owner: "user1".into(),
        ..Default::default()
    };
    assert_eq!(
        user0.list_tasks(other.clone()).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    let mut admin = admin_client.clone();
    assert_eq!(
        all_pages(&mut admin, list("", 100)).await.len(),
        230,
        "admin: everyone's"
    );
    let theirs = all_pages(
        &mut admin,
        pb::ListTasksRequest {
            page_size: 40,
            ..other.clone()
        },
    )
    .await;
    assert_eq!(theirs.len(), 115);
    assert!(theirs.iter().all(|t| t.owner == "user1"));
    let mut service = app.client("notifier", Role::Service).await;
    assert_eq!(
        all_pages(
            &mut service,
            pb::ListTasksRequest {
                page_size: 1000,
                ..other
            }
        )
        .await
        .len(),
        115
    );
}

#[tokio::test]
async fn a_page_token_works_only_unchanged_for_its_caller_and_its_query() {
    let app = spawn_app().await;
    let admin = app.client("root", Role::Admin).await;
    seed(&admin, 1).await;
    let mut owner = app.user("user0").await;
    let page = owner
        .list_tasks(list("title", 10))
        .await
        .unwrap()
        .into_inner();
    let token = page.next_page_token;

    let with = |token: &str, order_by: &str| pb::ListTasksRequest {
        page_token: token.into(),
        ..list(order_by, 10)
    };
    assert!(owner.list_tasks(with(&token, "title")).await.is_ok());

    // Flip one character in each half of the token.
    for position in [5, token.len() - 5] {
        let mut bytes = token.clone().into_bytes();
        bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        let status = owner
            .list_tasks(with(&tampered, "title"))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["page_token"]);
    }
    for garbage in ["x", "not.base64!", "...."] {
        let status = owner.list_tasks(with(garbage, "title")).await.unwrap_err();
        assert_eq!(bad_fields(&status), ["page_token"]);
    }
    let status = owner
        .list_tasks(with(&token, "title desc"))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["page_token"], "another order_by");
    let other_filter = pb::ListTasksRequest {
        query: "task".into(),
        ..with(&token, "title")
    };
    let status = owner.list_tasks(other_filter).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["page_token"], "other filters");
    let mut someone_else = app.user("mallory").await;
    let status = someone_else
        .list_tasks(with(&token, "title"))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["page_token"], "another caller");
}

#[tokio::test]
async fn an_admins_listing_of_one_state_pages_every_owners_tasks_in_creation_order() {
    let app = spawn_app().await;
    let admin = app.client("root", Role::Admin).await;
    // The states a new task may have; the newest 30 are all pending, as
    // when a burst of new tasks follows (the listing PostgreSQL once
    // answered by walking every newer task of the other state).
    let states = [pb::TaskState::Pending, pb::TaskState::InProgress];
    // Created concurrently, so that some share a create_time and the id
    // breaks the tie; three owners, two states interleaved.
    let calls = (0..90).map(|i| {
        let mut admin = admin.clone();
        let task = pb::Task {
            owner: format!("user{}", i % 3),
            state: states[(i / 3) % 2].into(),
            ..titled(&format!("task {i}"))
        };
        tokio::spawn(async move { admin.create_task(create(task)).await.unwrap().into_inner() })
    });
    let mut created: Vec<pb::Task> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut admin = admin;
    for i in 0..30 {
        let made = admin
            .create_task(create(titled(&format!("new {i}"))))
            .await
            .unwrap()
            .into_inner();
        created.push(made);
    }
    let key = |t: &pb::Task| {
        let at = t.create_time.as_ref().unwrap();
        (at.seconds, at.nanos, t.id.clone())
    };

    for state in states {
        let mut expected: Vec<&pb::Task> = created
            .iter()
            .filter(|t| t.state == i32::from(state))
            .collect();
        expected.sort_by_key(|t| key(t));
        let oldest_first: Vec<String> = expected.iter().map(|t| t.id.clone()).collect();
        let newest_first: Vec<String> = oldest_first.iter().rev().cloned().collect();
        for (order_by, want) in [("", &newest_first), ("create_time asc", &oldest_first)] {
            let listed = all_pages(
                &mut admin,
                pb::ListTasksRequest {
                    states: vec![state.into()],
                    order_by: order_by.into(),
                    page_size: 7,
                    ..pb::ListTasksRequest::default()
                },
            )
            .await;
            let ids: Vec<String> = listed.iter().map(|t| t.id.clone()).collect();
            assert_eq!(&ids, want, "{state:?} in order {order_by:?}");
            assert!(listed.iter().all(|t| t.state == i32::from(state)));
        }
    }
}
