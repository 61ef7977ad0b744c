//! Replicas share the account's `WHATSAPP_MAX_MPS`: two notifiers on one
//! database send together under the limit, a replica that leaves or dies
//! stops being counted.

use std::time::Duration;

use todogenie_standin::StandinConfig;

use crate::helpers::{poll, spawn_with, Notifier, Options, TestEvent};

const LIMIT: u32 = 20;

async fn live_senders(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM senders WHERE heartbeat_at > now() - interval '5 s'")
        .fetch_one(pool)
        .await
        .expect("senders")
}

/// Replicas join once they serve; a dead one is forgotten within seconds.
async fn senders_become(pool: &sqlx::PgPool, live: i64) {
    poll(
        Duration::from_secs(15),
        &format!("{live} live senders"),
        || async { live_senders(pool).await == live },
    )
    .await;
}

#[tokio::test]
async fn two_replicas_send_together_under_the_accounts_limit() {
    // The stand-in refuses (130429) the 21st message in any second; each
    // replica alone would send at 20/s, so two without a shared limit
    // would send at twice the account's rate.
    let pair = spawn_with(Options {
        max_mps: LIMIT,
        standin: StandinConfig {
            max_mps: LIMIT as usize,
            ..StandinConfig::default()
        },
        ..Options::default()
    })
    .await;
    assert_eq!(live_senders(&pair.pool).await, 1);
    let second = Notifier::start(pair.settings.clone()).await;
    senders_become(&pair.pool, 2).await;

    let users: Vec<(String, String)> = (0..80)
        .map(|i| (format!("user{i}"), format!("+1415555{:04}", 100 + i)))
        .collect();
    for (user, phone) in &users {
        pair.contact(user, phone).await;
    }
    for (user, _) in &users {
        pair.publish_event(&TestEvent::due(user, "Shared limit"))
            .await;
    }
    poll(Duration::from_secs(60), "every reminder sent", || async {
        pair.standin.sent().len() >= users.len()
    })
    .await;
    assert_eq!(pair.standin.refused(130_429), 0, "over the account's limit");
    let busiest = pair.standin.busiest_second();
    assert!(
        busiest <= LIMIT as usize,
        "{busiest} messages in one second"
    );

    // Killed, it is no longer counted once its heartbeat is stale.
    second.kill().await;
    senders_become(&pair.pool, 1).await;

    // A graceful stop leaves at once.
    let third = Notifier::start(pair.settings.clone()).await;
    senders_become(&pair.pool, 2).await;
    third.stop().await.expect("stops");
    assert_eq!(live_senders(&pair.pool).await, 1);
}
