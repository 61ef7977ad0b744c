//! Per-caller limits (CONTRACT §3): each at, just under and just over, each
//! refusal RESOURCE_EXHAUSTED naming its limit, and other callers served
//! meanwhile. Limits are set low per test through `spawn_app_with`.

use std::num::NonZeroU32;
use std::time::Duration;

use task_service::auth::Role;
use task_service::config::LimitSettings;
use todogenie_proto::v1 as pb;
use todogenie_test_kit::{poll, spawn_app_with};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::{create, titled};

fn limits() -> LimitSettings {
    LimitSettings::default()
}

fn exhausted(status: &Status, limit: &str) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains(limit),
        "the message names {limit}: {}",
        status.message()
    );
}

#[tokio::test]
async fn changing_rpcs_past_the_burst_are_refused_with_a_retry_delay_for_that_caller_only() {
    let app = spawn_app_with(LimitSettings {
        user_rate: NonZeroU32::new(1).unwrap(),
        user_burst: NonZeroU32::new(3).unwrap(),
        ..limits()
    })
    .await;
    let mut alice = app.user("alice").await;
    let mut first = None;
    for i in 0..3 {
        let made = alice
            .create_task(create(titled(&format!("task {i}"))))
            .await
            .unwrap_or_else(|e| panic!("change {i} of a burst of 3: {e:?}"));
        first.get_or_insert(made.into_inner());
    }
    let status = alice
        .create_task(create(titled("one too many")))
        .await
        .unwrap_err();
    exhausted(&status, "TASK_USER_RATE");
    let retry = status
        .get_details_retry_info()
        .expect("waiting helps: RetryInfo says how long")
        .retry_delay
        .expect("a delay");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(1),
        "{retry:?}"
    );
    // Every changing RPC draws from the same bucket; reads do not.
    let first = first.unwrap();
    let status = alice
        .complete_task(pb::CompleteTaskRequest {
            id: first.id.clone(),
        })
        .await
        .unwrap_err();
    exhausted(&status, "TASK_USER_RATE");
    alice
        .get_task(pb::GetTaskRequest { id: first.id })
        .await
        .expect("reads are not rate limited");

    // Others are served meanwhile; admin and service are exempt.
    let mut bob = app.user("bob").await;
    bob.create_task(create(titled("bob's"))).await.unwrap();
    for role in [Role::Admin, Role::Service] {
        let mut privileged = app.client("ops", role).await;
        for i in 0..5 {
            privileged
                .create_task(create(pb::Task {
                    owner: "alice".into(),
                    ..titled(&format!("for alice {i}"))
                }))
                .await
                .unwrap();
        }
    }

    // The bucket refills at the rate (one a second): alice is served again.
    poll(Duration::from_secs(3), "alice's bucket refills", || {
        let mut alice = alice.clone();
        async move { alice.create_task(create(titled("later"))).await.is_ok() }
    })
    .await;
}

#[tokio::test]
async fn the_task_quota_counts_tasks_that_are_not_archived() {
    let app = spawn_app_with(LimitSettings {
        max_tasks_per_owner: 3,
        ..limits()
    })
    .await;
    let mut alice = app.user("alice").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let task = alice
            .create_task(create(titled(&format!("task {i}"))))
            .await
            .unwrap_or_else(|e| panic!("task {i} of 3: {e:?}"))
            .into_inner();
        ids.push(task.id);
    }
    let status = alice
        .create_task(create(titled("the fourth")))
        .await
        .unwrap_err();
    exhausted(&status, "TASK_MAX_TASKS_PER_OWNER");
    assert!(
        status.get_details_retry_info().is_none(),
        "waiting does not help a full quota"
    );
    // A completed task still counts; an archived one does not.
    alice
        .complete_task(pb::CompleteTaskRequest { id: ids[0].clone() })
        .await
        .unwrap();
    let status = alice
        .create_task(create(titled("still full")))
        .await
        .unwrap_err();
    exhausted(&status, "TASK_MAX_TASKS_PER_OWNER");
    let mut archived = titled("");
    archived.id = ids[0].clone();
    archived.state = pb::TaskState::Archived.into();
    alice
        .update_task(pb::UpdateTaskRequest {
            task: Some(archived),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["state".into()],
            }),
        })
        .await
        .unwrap();
    alice
        .create_task(create(titled("room again")))
        .await
        .expect("archiving made room");
    // Deleting makes room too; admin is exempt.
    alice
        .delete_task(pb::DeleteTaskRequest { id: ids[1].clone() })
        .await
        .unwrap();
    alice
        .create_task(create(titled("after delete")))
        .await
        .unwrap();
    let mut admin = app.client("ops", Role::Admin).await;
    admin
        .create_task(create(pb::Task {
            owner: "alice".into(),
            ..titled("admin is exempt")
        }))
        .await
        .unwrap();
    // Bob has his own quota.
    app.user("bob")
        .await
        .create_task(create(titled("bob's")))
        .await
        .unwrap();
}

#[tokio::test]
async fn watch_streams_are_bounded_per_caller_and_in_all() {
    let app = spawn_app_with(LimitSettings {
        max_watchers_per_caller: 2,
        max_watchers: 3,
        ..limits()
    })
    .await;
    let mut alice = app.user("alice").await;
    let first = alice.watch_tasks(pb::WatchTasksRequest {}).await.unwrap();
    let _second = alice.watch_tasks(pb::WatchTasksRequest {}).await.unwrap();
    let status = alice
        .watch_tasks(pb::WatchTasksRequest {})
        .await
        .unwrap_err();
    exhausted(&status, "TASK_MAX_WATCHERS_PER_CALLER");

    let mut bob = app.user("bob").await;
    let _bobs = bob.watch_tasks(pb::WatchTasksRequest {}).await.unwrap();
    let status = app
        .user("carol")
        .await
        .watch_tasks(pb::WatchTasksRequest {})
        .await
        .unwrap_err();
    exhausted(&status, "TASK_MAX_WATCHERS");

    // Closing a stream frees its place.
    drop(first);
    poll(
        Duration::from_secs(5),
        "a closed stream frees its place",
        || {
            let mut alice = alice.clone();
            async move { alice.watch_tasks(pb::WatchTasksRequest {}).await.is_ok() }
        },
    )
    .await;
}

#[tokio::test]
async fn api_statements_time_out_with_the_rpc() {
    let app = spawn_app_with(limits()).await;
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(timeout, "10s", "the test app's RPC timeout");
}

#[tokio::test]
async fn a_task_holds_at_most_ten_pending_snoozes() {
    let app = spawn_app_with(limits()).await;
    let mut alice = app.user("alice").await;
    let task = alice
        .create_task(create(titled("Nag me")))
        .await
        .unwrap()
        .into_inner();
    let snooze = |minutes: i64| pb::SnoozeTaskRequest {
        id: task.id.clone(),
        duration: Some(prost_types::Duration {
            seconds: minutes * 60,
            nanos: 0,
        }),
    };
    for minutes in 1..=10 {
        alice
            .snooze_task(snooze(minutes))
            .await
            .unwrap_or_else(|e| panic!("snooze {minutes} of 10: {e:?}"));
    }
    let status = alice.snooze_task(snooze(11)).await.unwrap_err();
    exhausted(&status, "at most 10 snoozes pending");
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM reminders WHERE source = 'snooze'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(pending, 10);
}

/// Open tasks per owner: the count the quota reads (kept by the database's
/// triggers) and a count of the rows themselves.
async fn kept_and_real(pool: &sqlx::PgPool, owner: &str) -> (i64, i64) {
    let kept: Option<i64> =
        sqlx::query_scalar("SELECT open FROM owner_task_counts WHERE owner = $1")
            .bind(owner)
            .fetch_optional(pool)
            .await
            .unwrap();
    let real: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tasks WHERE owner = $1 AND state <> 'archived'")
            .bind(owner)
            .fetch_one(pool)
            .await
            .unwrap();
    (kept.unwrap_or(0), real)
}

#[tokio::test]
async fn the_quota_count_follows_every_change_to_an_owners_tasks() {
    let app = spawn_app_with(limits()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    // Together, so that group commit writes both owners' tasks in batches.
    let calls = (0..24).map(|i| {
        let mut client = if i % 3 == 0 {
            bob.clone()
        } else {
            alice.clone()
        };
        tokio::spawn(async move { client.create_task(create(titled(&format!("t{i}")))).await })
    });
    let mut alices = Vec::new();
    for (i, answer) in futures::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        let task = answer.expect("no panic").expect("created").into_inner();
        if i % 3 != 0 {
            alices.push(task.id);
        }
    }
    assert_eq!(kept_and_real(&app.pool, "alice").await, (16, 16));
    assert_eq!(kept_and_real(&app.pool, "bob").await, (8, 8));

    let mut alice = alice;
    let archive = |id: &str| pb::UpdateTaskRequest {
        task: Some(pb::Task {
            id: id.into(),
            state: pb::TaskState::Archived.into(),
            ..pb::Task::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["state".into()],
        }),
    };
    // Completed still counts; archived (from completed) does not.
    for id in &alices[..3] {
        alice
            .complete_task(pb::CompleteTaskRequest { id: id.clone() })
            .await
            .unwrap();
        alice.update_task(archive(id)).await.unwrap();
    }
    // A title change leaves the count alone.
    let mut retitled = titled("renamed");
    retitled.id = alices[4].clone();
    alice
        .update_task(pb::UpdateTaskRequest {
            task: Some(retitled),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into()],
            }),
        })
        .await
        .unwrap();
    assert_eq!(kept_and_real(&app.pool, "alice").await, (13, 13));

    // Deleting an archived task changes nothing; deleting an open one does.
    for id in [&alices[1], &alices[5]] {
        alice
            .delete_task(pb::DeleteTaskRequest { id: id.clone() })
            .await
            .unwrap();
    }
    assert_eq!(kept_and_real(&app.pool, "alice").await, (12, 12));

    // A recurring task's next occurrence counts, as does a task an admin
    // makes for her.
    let recurring = alice
        .create_task(create(pb::Task {
            due_time: Some(crate::helpers::timestamp(
                chrono::Utc::now() + chrono::Duration::days(1),
            )),
            recurrence: "daily".into(),
            ..titled("Stretch")
        }))
        .await
        .unwrap()
        .into_inner();
    alice
        .complete_task(pb::CompleteTaskRequest { id: recurring.id })
        .await
        .unwrap();
    app.client("ops", Role::Admin)
        .await
        .create_task(create(pb::Task {
            owner: "alice".into(),
            ..titled("from ops")
        }))
        .await
        .unwrap();
    assert_eq!(kept_and_real(&app.pool, "alice").await, (15, 15));
    assert_eq!(kept_and_real(&app.pool, "bob").await, (8, 8));
}
