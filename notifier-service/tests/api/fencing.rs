//! Nothing is sent twice by our own fault: an outcome write that fails after
//! a send is retried (not answered by sending again), and a round that
//! outlasts its lease stops sending and records nothing for rows another
//! replica took.

use std::collections::HashMap;
use std::time::Duration;

use crate::helpers::{poll, spawn_pair, spawn_with, Notifier, Options, TestEvent};

const PHONE: &str = "+14155550123";

/// Holds `invariant` at every look for `window`: for what must *not*
/// happen (a second send), there is no event to wait for, only time in
/// which it would have happened.
async fn holds_throughout<F: Fn() -> bool>(window: Duration, what: &str, invariant: F) {
    let end = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < end {
        assert!(invariant(), "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(invariant(), "{what}");
}

#[tokio::test]
async fn an_outcome_write_that_fails_once_after_a_send_sends_nothing_twice() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    // The first write of a SENT outcome fails (a sequence is not rolled back
    // with the failed statement, so exactly one does).
    sqlx::raw_sql(
        "CREATE SEQUENCE fail_once; \
         CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.status = 'SENT' AND OLD.status <> 'SENT' AND nextval('fail_once') = 1 THEN \
                 RAISE EXCEPTION 'injected: the outcome write fails once'; \
             END IF; \
             RETURN NEW; \
         END $$; \
         CREATE TRIGGER fail_once BEFORE UPDATE ON notifications \
             FOR EACH ROW EXECUTE FUNCTION fail_once();",
    )
    .execute(&pair.pool)
    .await
    .unwrap();
    let event = TestEvent::due("alice", "Only once");
    pair.publish_event(&event).await;
    let pool = pair.pool.clone();
    poll(Duration::from_secs(15), "the outcome recorded", || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>(
                "SELECT provider_message_id IS NOT NULL FROM notifications WHERE task_id = $1",
            )
            .bind(event.task_id)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .unwrap_or(false)
        }
    })
    .await;
    let failed: i64 = sqlx::query_scalar("SELECT last_value FROM fail_once")
        .fetch_one(&pair.pool)
        .await
        .unwrap();
    assert!(failed >= 2, "the injected failure happened, then a retry");
    // Past the 4 s lease, after which a lost outcome would be sent again.
    holds_throughout(Duration::from_secs(6), "one message", || {
        pair.standin.sent().len() == 1
    })
    .await;
    let (_, attempts, _, _) = pair.notifications_of(event.task_id).await[0].clone();
    assert_eq!(attempts, 1);
}

#[tokio::test]
async fn a_round_that_outlasts_its_lease_sends_nothing_twice() {
    // One message a second for the account, shared by the two replicas: a
    // round of 8 would take 15 s, the lease is 4 s.
    let pair = spawn_with(Options {
        max_mps: 1,
        ..Options::default()
    })
    .await;
    let second = Notifier::start(pair.settings.clone()).await;
    let users: Vec<(String, String)> = (0..12)
        .map(|i| (format!("user{i}"), format!("+1415555{:04}", 100 + i)))
        .collect();
    for (user, phone) in &users {
        pair.contact(user, phone).await;
    }
    for (user, _) in &users {
        pair.publish_event(&TestEvent::due(user, "Exactly once"))
            .await;
    }
    poll(
        Duration::from_secs(60),
        "every recipient's message",
        || async { pair.standin.sent().len() >= users.len() },
    )
    .await;
    holds_throughout(Duration::from_secs(5), "no second copy", || {
        pair.standin.sent().len() == users.len()
    })
    .await;
    let mut per_phone: HashMap<String, usize> = HashMap::new();
    for sent in pair.standin.sent() {
        *per_phone.entry(sent.to).or_default() += 1;
    }
    assert_eq!(per_phone.len(), users.len(), "{per_phone:?}");
    assert!(per_phone.values().all(|&n| n == 1), "{per_phone:?}");
    drop(second);
}

/// Outcomes of sends that finish while an earlier outcome is being written
/// are written together (group commit), and each round still records only
/// its own rows: every notification is recorded once, sent once.
#[tokio::test]
async fn outcomes_that_finish_together_are_written_together_each_once() {
    let pair = spawn_pair().await;
    // The first SENT outcome's write takes half a second (40 sends' worth
    // at 80/s), so the outcomes finishing meanwhile queue behind it; each
    // statement's newly SENT rows are counted.
    sqlx::raw_sql(
        "CREATE SEQUENCE pause_once; \
         CREATE FUNCTION pause_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.status = 'SENT' AND OLD.status <> 'SENT' AND nextval('pause_once') = 1 THEN \
                 PERFORM pg_sleep(0.5); \
             END IF; \
             RETURN NEW; \
         END $$; \
         CREATE TRIGGER pause_once BEFORE UPDATE ON notifications \
             FOR EACH ROW EXECUTE FUNCTION pause_once(); \
         CREATE TABLE sent_per_statement (sent bigint NOT NULL); \
         CREATE FUNCTION count_sent() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             INSERT INTO sent_per_statement \
                 SELECT count(*) FROM new_rows n JOIN old_rows o USING (id) \
                 WHERE n.status = 'SENT' AND o.status <> 'SENT' HAVING count(*) > 0; \
             RETURN NULL; \
         END $$; \
         CREATE TRIGGER count_sent AFTER UPDATE ON notifications \
             REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows \
             FOR EACH STATEMENT EXECUTE FUNCTION count_sent();",
    )
    .execute(&pair.pool)
    .await
    .unwrap();
    let users: Vec<(String, String)> = (0..20)
        .map(|i| (format!("user{i}"), format!("+1415555{:04}", 300 + i)))
        .collect();
    for (user, phone) in &users {
        pair.contact(user, phone).await;
    }
    for (user, _) in &users {
        pair.publish_event(&TestEvent::due(user, "Written together"))
            .await;
    }
    let pool = pair.pool.clone();
    poll(Duration::from_secs(20), "every outcome recorded", || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM notifications WHERE provider_message_id IS NOT NULL",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
                == 20
        }
    })
    .await;
    let statements: Vec<i64> = sqlx::query_scalar("SELECT sent FROM sent_per_statement")
        .fetch_all(&pair.pool)
        .await
        .unwrap();
    assert_eq!(statements.iter().sum::<i64>(), 20, "{statements:?}");
    assert!(
        statements.iter().any(|&n| n > 1),
        "outcomes were written together: {statements:?}"
    );
    let rows: Vec<(i32, String)> =
        sqlx::query_as("SELECT attempts, provider_message_id FROM notifications")
            .fetch_all(&pair.pool)
            .await
            .unwrap();
    assert!(rows.iter().all(|(attempts, _)| *attempts == 1), "{rows:?}");
    let ids: std::collections::HashSet<&String> = rows.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), 20, "each its own message");
    assert_eq!(pair.standin.sent().len(), 20);
}
