//! RabbitMQ taking the notifier's connection away: the consumer reconnects
//! by itself and nothing is lost. A test binary of its own, because
//! `rabbitmqctl close_all_connections` cuts every client (cargo runs test
//! binaries one by one).

#[allow(dead_code, unused_imports)]
#[path = "api/helpers.rs"]
mod helpers;

use std::time::Duration;

use helpers::{spawn_pair, TestEvent};
use todogenie_test_kit::close_all_connections;

#[tokio::test]
async fn the_consumer_reconnects_after_the_broker_drops_it_and_loses_nothing() {
    let pair = spawn_pair().await;
    pair.contact("alice", "+14155550123").await;
    pair.contact("bob", "+14155550124").await;
    let before = TestEvent::due("alice", "Before the cut");
    pair.publish_event(&before).await;
    pair.wait_status(before.task_id, "DELIVERED", Duration::from_secs(10))
        .await;

    close_all_connections().await;
    // Published while the notifier may still be reconnecting: the durable
    // queue keeps it.
    let after = TestEvent::due("bob", "After the cut");
    pair.publish_event(&after).await;
    pair.wait_status(after.task_id, "DELIVERED", Duration::from_secs(20))
        .await;
    pair.notifier().ready(200).await;
    assert_eq!(pair.standin.sent().len(), 2);
}
