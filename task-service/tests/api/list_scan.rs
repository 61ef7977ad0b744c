//! ListTasks across every owner reads at most `TASK_LIST_SCAN_ROWS` tasks
//! per page to find its matches: a page that reaches the bound ends short
//! and its token continues, so no match is lost or repeated; listings the
//! bound does not concern are whole pages as before.

use std::num::NonZeroU32;

use task_service::auth::Role;
use task_service::config::LimitSettings;
use todogenie_proto::v1 as pb;
use todogenie_test_kit::spawn_app_with;

use crate::helpers::{create, titled, Client, TestApp};

/// Ten of alice's tasks, oldest first: the four oldest are "needle" tasks
/// tagged `hay`, the six newest match neither. Their ids, oldest first.
async fn needles_under_hay(alice: &mut Client) -> (Vec<String>, Vec<String>) {
    let (mut needles, mut others) = (Vec::new(), Vec::new());
    for i in 0..10 {
        let task = if i < 4 {
            pb::Task {
                tags: vec!["hay".into()],
                ..titled(&format!("needle {i}"))
            }
        } else {
            titled(&format!("straw {i}"))
        };
        let made = alice.create_task(create(task)).await.unwrap().into_inner();
        if i < 4 {
            needles.push(made.id);
        } else {
            others.push(made.id);
        }
    }
    (needles, others)
}

fn search(page_size: i32, page_token: String) -> pb::ListTasksRequest {
    pb::ListTasksRequest {
        query: "needle".into(),
        tags: vec!["hay".into()],
        page_size,
        page_token,
        ..pb::ListTasksRequest::default()
    }
}

/// A service whose pages across owners read at most 4 tasks, alice's ten
/// tasks (see [`needles_under_hay`]), alice and an admin.
async fn bound_of_four() -> (TestApp, Client, Client, Vec<String>, Vec<String>) {
    let app = spawn_app_with(LimitSettings {
        list_scan_rows: NonZeroU32::new(4).unwrap(),
        ..LimitSettings::default()
    })
    .await;
    let mut alice = app.user("alice").await;
    let (needles, others) = needles_under_hay(&mut alice).await;
    let admin = app.client("root", Role::Admin).await;
    (app, alice, admin, needles, others)
}

#[tokio::test]
async fn a_search_across_owners_reads_a_bounded_number_of_tasks_per_page_and_loses_none() {
    let (_app, _alice, mut admin, needles, _) = bound_of_four().await;

    // Newest first: the first page reads four straws and ends empty, the
    // second two straws and two needles, the third the last two needles.
    let newest_first: Vec<String> = needles.iter().rev().cloned().collect();
    assert_eq!(
        search_pages(&mut admin, 2).await,
        [
            vec![],
            newest_first[..2].to_vec(),
            newest_first[2..].to_vec()
        ],
        "pages of at most 2, each reading at most 4 tasks"
    );

    // Pages of one: a page that finds more than it holds ends at its size,
    // and every needle still comes once, in order.
    let pages = search_pages(&mut admin, 1).await;
    assert!(pages.iter().all(|page| page.len() <= 1));
    assert_eq!(pages.concat(), newest_first);
}

/// The ids of every page of the search, `page_size` at a time, until the
/// token is empty.
async fn search_pages(client: &mut Client, page_size: i32) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut token = String::new();
    for _ in 0..20 {
        let page = client
            .list_tasks(search(page_size, token))
            .await
            .unwrap()
            .into_inner();
        pages.push(page.tasks.into_iter().map(|t| t.id).collect());
        token = page.next_page_token;
        if token.is_empty() {
            return pages;
        }
    }
    panic!("paging did not end");
}

#[tokio::test]
async fn listings_with_an_index_to_follow_are_not_bounded() {
    let (_app, mut alice, mut admin, needles, others) = bound_of_four().await;

    // One owner's search: all four needles in one page.
    let own = alice
        .list_tasks(search(10, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.tasks.len(), needles.len());
    assert!(own.next_page_token.is_empty());

    // Everyone's tasks, and everyone's in one state: whole pages.
    for states in [vec![], vec![pb::TaskState::Pending as i32]] {
        let page = admin
            .list_tasks(pb::ListTasksRequest {
                states,
                page_size: 10,
                ..pb::ListTasksRequest::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.tasks.len(), needles.len() + others.len());
    }

    // A search in another order than create_time sorts anyway: not bounded.
    let by_title = admin
        .list_tasks(pb::ListTasksRequest {
            order_by: "title".into(),
            ..search(10, String::new())
        })
        .await
        .unwrap()
        .into_inner();
    let titles: Vec<String> = by_title.tasks.into_iter().map(|t| t.title).collect();
    assert_eq!(titles, ["needle 0", "needle 1", "needle 2", "needle 3"]);
}
