//! The outbox's batch claims (`store::outbox`): concurrent claims never take
//! the same event while a lease lasts, a dead relay's claim runs out, an
//! event that commits late inside a claimed range is claimed after it, and
//! finishing a claim deletes exactly the events it names.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::PgPool;
use task_service::store::outbox;
use todogenie_test_kit::{spawn_app, TestApp};

const LEASE: Duration = Duration::from_secs(30);
const INSERT: &str = "INSERT INTO outbox (event_id, routing_key, payload, traceparent) \
     SELECT gen_random_uuid(), 'task.created', '{}'::bytea, \
            '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
     FROM generate_series(1, $1) RETURNING id";

/// A migrated database with an empty outbox and no service working it.
async fn quiet_outbox() -> (TestApp, PgPool) {
    let mut app = spawn_app().await;
    app.stop_keeping_database().await;
    let url = format!("{}/{}", todogenie_test_kit::postgres_base(), app.db_name);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await
        .unwrap();
    sqlx::query("DELETE FROM outbox")
        .execute(&pool)
        .await
        .unwrap();
    (app, pool)
}

async fn insert(pool: &PgPool, n: i64) -> Vec<i64> {
    sqlx::query_scalar(INSERT)
        .bind(n)
        .fetch_all(pool)
        .await
        .unwrap()
}

fn ids(claim: &outbox::Claim) -> Vec<i64> {
    claim.rows.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn claims_made_together_never_share_an_event() {
    let (_app, pool) = quiet_outbox().await;
    let written: HashSet<i64> = insert(&pool, 2_500).await.into_iter().collect();

    let claims = (0..6).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move { outbox::claim(&pool, 500, LEASE).await.unwrap() })
    });
    let mut taken = Vec::new();
    for claim in futures::future::join_all(claims).await {
        if let Some(claim) = claim.unwrap() {
            taken.extend(ids(&claim));
        }
    }
    let distinct: HashSet<i64> = taken.iter().copied().collect();
    assert_eq!(distinct.len(), taken.len(), "an event was claimed twice");
    assert_eq!(distinct, written, "five claims of 500 take all 2,500");
    assert!(
        outbox::claim(&pool, 500, LEASE).await.unwrap().is_none(),
        "every event is held"
    );
}

#[tokio::test]
async fn a_claim_whose_lease_ran_out_is_claimed_again_and_finished_ones_leave() {
    let (_app, pool) = quiet_outbox().await;
    let written = insert(&pool, 10).await;
    let dead = outbox::claim(&pool, 100, LEASE).await.unwrap().unwrap();
    assert_eq!(ids(&dead), written);
    assert!(outbox::claim(&pool, 100, LEASE).await.unwrap().is_none());

    // The relay that made it died: its lease runs out.
    sqlx::query("UPDATE outbox_claims SET claimed_until = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let again = outbox::claim(&pool, 100, LEASE).await.unwrap().unwrap();
    assert_eq!(ids(&again), written, "the same events, oldest first");
    assert_ne!(again.id, dead.id);

    // Published but three: those three have their retry time, and stay.
    outbox::retry_later(&pool, &written[..3], Duration::from_secs(60), "returned")
        .await
        .unwrap();
    outbox::finish(&pool, again.id, &written[3..])
        .await
        .unwrap();
    let left: Vec<(i64, i32)> = sqlx::query_as("SELECT id, attempts FROM outbox ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        left,
        written[..3].iter().map(|&id| (id, 1)).collect::<Vec<_>>()
    );
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox_claims")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        claims, 0,
        "the finished claim is gone and the dead one cleared"
    );
    assert!(
        outbox::claim(&pool, 100, LEASE).await.unwrap().is_none(),
        "held back until their retry"
    );
    sqlx::query("UPDATE outbox SET not_before = now()")
        .execute(&pool)
        .await
        .unwrap();
    let retried = outbox::claim(&pool, 100, LEASE).await.unwrap().unwrap();
    assert_eq!(ids(&retried), written[..3]);
    assert!(retried.rows.iter().all(|r| r.attempts == 1));
}

#[tokio::test]
async fn an_event_committed_late_inside_a_claimed_range_is_claimed_after_it() {
    let (_app, pool) = quiet_outbox().await;
    let first = insert(&pool, 1).await[0];
    // A transaction takes the next id and commits only after a later one.
    let mut late = pool.begin().await.unwrap();
    let late_id: i64 = sqlx::query_scalar(INSERT)
        .bind(1_i64)
        .fetch_one(&mut *late)
        .await
        .unwrap();
    let last = insert(&pool, 1).await[0];
    assert!(first < late_id && late_id < last);

    let claim = outbox::claim(&pool, 100, LEASE).await.unwrap().unwrap();
    assert_eq!(ids(&claim), [first, last], "the late one was not visible");
    late.commit().await.unwrap();
    assert!(
        outbox::claim(&pool, 100, LEASE).await.unwrap().is_none(),
        "inside a live claim's range: it waits"
    );
    outbox::finish(&pool, claim.id, &[first, last])
        .await
        .unwrap();
    let after = outbox::claim(&pool, 100, LEASE).await.unwrap().unwrap();
    assert_eq!(ids(&after), [late_id], "not lost");
}

#[tokio::test]
async fn a_claim_returns_retried_and_new_events_oldest_first() {
    let (_app, pool) = quiet_outbox().await;
    let earlier = insert(&pool, 3).await;
    let claim = outbox::claim(&pool, 100, LEASE).await.unwrap().unwrap();
    // The broker refused the oldest: it is offered again at once.
    outbox::retry_later(&pool, &earlier[..1], Duration::ZERO, "returned")
        .await
        .unwrap();
    outbox::finish(&pool, claim.id, &earlier[1..])
        .await
        .unwrap();
    let newer = insert(&pool, 2).await;

    let next = outbox::claim(&pool, 100, LEASE).await.unwrap().unwrap();
    assert_eq!(
        ids(&next),
        [earlier[0], newer[0], newer[1]],
        "the retried event, older, comes before the new ones"
    );
    assert_eq!(next.rows[0].attempts, 1);
}

#[tokio::test]
async fn finishing_deletes_the_confirmed_events_and_none_between_them() {
    let (_app, pool) = quiet_outbox().await;
    let written = insert(&pool, 10).await;
    let claim = outbox::claim(&pool, 100, LEASE).await.unwrap().unwrap();
    // Refused ones at both ends and two together in the middle, so the
    // confirmed ones form two runs with a gap of two ids between them.
    let refused = [written[0], written[4], written[5], written[9]];
    let confirmed: Vec<i64> = written
        .iter()
        .copied()
        .filter(|id| !refused.contains(id))
        .collect();
    outbox::finish(&pool, claim.id, &confirmed).await.unwrap();
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, refused, "exactly the unconfirmed events stay");
}
