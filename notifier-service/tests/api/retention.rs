//! Retention: what is finished and older than NOTIFIER_RETENTION is
//! deleted; what is pending or recent is kept.

use std::time::Duration;

use crate::helpers::{poll, spawn_pair};

#[tokio::test]
async fn finished_records_past_the_retention_are_deleted_and_the_rest_kept() {
    let mut pair = spawn_pair().await;
    sqlx::raw_sql(
        "INSERT INTO notifications (id, user_id, task_id, event_id, reminder_time, task_title, \
             status, scheduled_time, update_time) VALUES \
         ('00000000-0000-7000-8000-000000000001', 'u', gen_random_uuid(), gen_random_uuid(), \
             now(), 'old delivered', 'DELIVERED', now(), now() - interval '100 days'), \
         ('00000000-0000-7000-8000-000000000002', 'u', gen_random_uuid(), gen_random_uuid(), \
             now(), 'old skipped', 'SKIPPED', now(), now() - interval '100 days'), \
         ('00000000-0000-7000-8000-000000000003', 'u', gen_random_uuid(), gen_random_uuid(), \
             now(), 'recent delivered', 'DELIVERED', now(), now() - interval '1 day'), \
         ('00000000-0000-7000-8000-000000000004', 'u', gen_random_uuid(), gen_random_uuid(), \
             now(), 'old but pending', 'QUEUED', now() + interval '1 day', \
             now() - interval '100 days'); \
         INSERT INTO inbound (key, provider, kind, done_time) VALUES \
             ('old-done', 'meta', 'text', now() - interval '100 days'), \
             ('recent-done', 'meta', 'text', now() - interval '1 day'); \
         INSERT INTO inbound (key, provider, kind, next_try_time, receive_time) VALUES \
             ('old-pending', 'meta', 'text', now() + interval '1 day', now() - interval '100 days'); \
         INSERT INTO task_states (task_id, user_id, state, version, seen_time) VALUES \
             (gen_random_uuid(), 'u', 'TASK_STATE_COMPLETED', 2, now() - interval '100 days'), \
             (gen_random_uuid(), 'u', 'TASK_STATE_PENDING', 1, now() - interval '100 days');",
    )
    .execute(&pair.pool)
    .await
    .unwrap();
    // A pass runs when the notifier starts, then hourly.
    pair.restart().await;
    let pool = pair.pool.clone();
    poll(
        Duration::from_secs(10),
        "the old finished rows gone",
        || {
            let pool = pool.clone();
            async move {
                let left: i64 = sqlx::query_scalar(
                    "SELECT (SELECT count(*) FROM notifications WHERE task_title LIKE 'old %' \
                            AND status <> 'QUEUED') \
                      + (SELECT count(*) FROM inbound WHERE key = 'old-done') \
                      + (SELECT count(*) FROM task_states WHERE state = 'TASK_STATE_COMPLETED')",
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                left == 0
            }
        },
    )
    .await;
    let kept: Vec<String> = sqlx::query_scalar("SELECT task_title FROM notifications ORDER BY 1")
        .fetch_all(&pair.pool)
        .await
        .unwrap();
    assert_eq!(kept, ["old but pending", "recent delivered"]);
    let inbound: Vec<String> = sqlx::query_scalar("SELECT key FROM inbound ORDER BY 1")
        .fetch_all(&pair.pool)
        .await
        .unwrap();
    assert_eq!(inbound, ["old-pending", "recent-done"]);
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM task_states")
        .fetch_one(&pair.pool)
        .await
        .unwrap();
    assert_eq!(open, 1, "an open task's state is kept, however old");
}
