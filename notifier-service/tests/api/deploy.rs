//! The operations kit in `deploy/` reads metrics that exist: every metric
//! its dashboard and alert rules name is on the services' `/metrics` once
//! the pair has done the work each one counts (a renamed metric fails here).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use todogenie_common::auth::Role;
use todogenie_proto::v1 as pb;
use todogenie_standin::Fault;

use crate::helpers::{poll, queue_depth, spawn_end_to_end, task_due_at};

/// Names in PromQL that are not ours: functions, and the blackbox
/// exporter's probe.
const NOT_OURS: [&str; 2] = ["histogram_quantile", "probe_success"];

/// The metric names in the `expr`s of a dashboard or a rules file.
fn metric_names(text: &str) -> BTreeSet<String> {
    let text = text.replace("$__rate_interval", " ");
    text.lines()
        .filter_map(|line| {
            line.split_once("\"expr\":")
                .or_else(|| line.split_once("expr:"))
        })
        .flat_map(|(_, expr)| {
            expr.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .filter(|w| w.contains('_') && !NOT_OURS.contains(w))
                .map(|w| w.trim_end_matches("_bucket").to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn deploy_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../deploy/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

#[tokio::test]
async fn the_dashboard_and_alerts_name_only_metrics_the_services_export() {
    let mut wanted = metric_names(&deploy_file("grafana/todogenie.json"));
    wanted.extend(metric_names(&deploy_file("prometheus/alerts.yml")));
    assert!(wanted.len() >= 15, "{wanted:?}");

    let pair = spawn_end_to_end().await;
    pair.contact("alice", "+14155550123").await;
    pair.contact("bob", "+14155550124").await;
    // A reminder that goes out, one the provider refuses (131026), a
    // message that makes a task, a press, a forged webhook, a poison event.
    pair.standin.inject(
        "14155550124",
        Fault::Error {
            http: 400,
            code: 131_026,
        },
    );
    for user in ["alice", "bob"] {
        let mut tasks = pair.tasks_client(user).await;
        task_due_at(
            &mut tasks,
            "Measured",
            Utc::now() + chrono::Duration::seconds(1),
        )
        .await;
    }
    assert_eq!(
        pair.standin
            .user_writes("14155550123", "count this tomorrow")
            .await,
        200
    );
    assert_eq!(
        pair.standin
            .webhooks
            .post_signed_with(b"{}", Some("sha256=00"))
            .await,
        401
    );
    pair.publish_raw("task.due", "poison", b"not json").await;
    let dead = pair.topology.dead_letter_queue();
    poll(
        Duration::from_secs(10),
        "the poison event dead-lettered",
        || {
            let dead = dead.clone();
            async move { queue_depth(&dead).await == 1 }
        },
    )
    .await;
    let mut notifier = pair.notifier_client("ops", Role::Admin).await;
    poll(
        Duration::from_secs(20),
        "bob's reminder failed and alice's delivered",
        || {
            let mut notifier = notifier.clone();
            async move {
                let statuses = |user: &str| pb::ListNotificationsRequest {
                    user_id: user.into(),
                    ..Default::default()
                };
                let alice = notifier
                    .list_notifications(statuses("alice"))
                    .await
                    .unwrap()
                    .into_inner()
                    .notifications;
                let bob = notifier
                    .list_notifications(statuses("bob"))
                    .await
                    .unwrap()
                    .into_inner()
                    .notifications;
                alice
                    .iter()
                    .any(|n| n.status() == pb::NotificationStatus::Delivered)
                    && bob
                        .iter()
                        .any(|n| n.status() == pb::NotificationStatus::Failed)
            }
        },
    )
    .await;
    // Done pressed on alice's reminder.
    let alice = notifier
        .list_notifications(pb::ListNotificationsRequest {
            user_id: "alice".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notifications;
    let done = format!("done:{}", alice[0].id);
    assert_eq!(
        pair.standin.user_presses("14155550123", &done, false).await,
        200
    );
    poll(Duration::from_secs(10), "the press acted on", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inbound WHERE kind = 'done' AND applied")
            .fetch_one(&pair.pool)
            .await
            .unwrap()
            == 1
    })
    .await;

    let tasks_addr = pair.tasks.as_ref().unwrap().http_addr;
    let notifier_addr = pair.notifier().http_addr;
    let missing = || async {
        let mut exported = String::new();
        for addr in [tasks_addr, notifier_addr] {
            exported += &reqwest::get(format!("http://{addr}/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
        }
        let names: BTreeSet<String> = exported
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(|n| {
                n.trim_end_matches("_bucket")
                    .trim_end_matches("_sum")
                    .trim_end_matches("_count")
                    .to_owned()
            })
            .collect();
        wanted
            .iter()
            .filter(|w| !names.contains(*w))
            .cloned()
            .collect::<Vec<_>>()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = missing().await;
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not exported: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
