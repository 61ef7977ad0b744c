//! The consumer and the delivery engine, fed events straight onto the test's
//! exchange: who gets what, once.

use std::time::Duration;

use todogenie_common::auth::Role;
use todogenie_proto::v1 as pb;

use crate::helpers::{poll, queue_depth, spawn_pair, TestEvent};
use todogenie_common::events::EventKind;

const PHONE: &str = "+14155550123";
const DIGITS: &str = "14155550123";

#[tokio::test]
async fn no_contact_or_no_opt_in_is_skipped_with_the_reason() {
    let pair = spawn_pair().await;
    let nobody = TestEvent::due("nobody", "Water the plants");
    pair.publish_event(&nobody).await;
    let (_, attempts, why, _) = pair
        .wait_status(nobody.task_id, "SKIPPED", Duration::from_secs(10))
        .await;
    assert_eq!(attempts, 0);
    assert!(why.unwrap().contains("no contact"));

    let mut client = pair.notifier_client("bob", Role::User).await;
    client
        .upsert_contact(pb::UpsertContactRequest {
            confirmed: false,
            contact: Some(pb::Contact {
                phone_number: "+14155550124".into(),
                whatsapp_opt_in: false,
                ..pb::Contact::default()
            }),
        })
        .await
        .unwrap();
    let bob = TestEvent::due("bob", "Feed the cat");
    pair.publish_event(&bob).await;
    let (_, _, why, _) = pair
        .wait_status(bob.task_id, "SKIPPED", Duration::from_secs(10))
        .await;
    assert!(why.unwrap().contains("opted in"));
    assert!(pair.standin.sent().is_empty());
}

#[tokio::test]
async fn stop_opts_out_so_reminders_are_skipped_and_start_brings_them_back() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    assert_eq!(pair.standin.user_writes(DIGITS, " stop ").await, 200);
    let confirmation = pair
        .standin
        .wait_for(Duration::from_secs(10), "the STOP confirmation", |s| {
            !s.is_empty()
        })
        .await;
    assert_eq!(confirmation[0].kind, "text");
    assert!(confirmation[0].body["text"]["body"]
        .as_str()
        .unwrap()
        .contains("START"));
    let mut client = pair.notifier_client("alice", Role::User).await;
    let contact = client
        .get_contact(pb::GetContactRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        contact.whatsapp_status(),
        pb::WhatsAppStatus::WhatsappStatusStopped
    );
    assert!(
        contact.whatsapp_opt_in,
        "the owner's wish is kept; the number's STOP outranks it"
    );

    let event = TestEvent::due("alice", "Gym");
    pair.publish_event(&event).await;
    pair.wait_status(event.task_id, "SKIPPED", Duration::from_secs(10))
        .await;

    assert_eq!(pair.standin.user_writes(DIGITS, "START").await, 200);
    poll(Duration::from_secs(10), "opt-in again", || {
        let mut client = client.clone();
        async move {
            client
                .get_contact(pb::GetContactRequest::default())
                .await
                .unwrap()
                .into_inner()
                .whatsapp_opt_in
        }
    })
    .await;
    // Past the 6 s since the STOP confirmation, a new reminder goes out.
    let next = TestEvent::due("alice", "Gym again");
    pair.publish_event(&next).await;
    pair.wait_status(next.task_id, "DELIVERED", Duration::from_secs(20))
        .await;
}

#[tokio::test]
async fn a_task_closed_before_its_message_goes_out_gets_none() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    let due = TestEvent::due("alice", "Renew passport");
    let completed = due.then(EventKind::Completed, "TASK_STATE_COMPLETED");
    // The completion overtakes the reminder.
    pair.publish_event(&completed).await;
    pair.publish_event(&due).await;
    let (_, _, why, _) = pair
        .wait_status(due.task_id, "SKIPPED", Duration::from_secs(10))
        .await;
    assert!(why.unwrap().contains("COMPLETED"));

    let deleted_task = TestEvent::due("alice", "Old chore");
    pair.publish_event(&deleted_task.then(EventKind::Deleted, "TASK_STATE_PENDING"))
        .await;
    pair.publish_event(&deleted_task).await;
    let (_, _, why, _) = pair
        .wait_status(deleted_task.task_id, "SKIPPED", Duration::from_secs(10))
        .await;
    assert!(why.unwrap().contains("deleted"));
    assert!(pair.standin.sent().is_empty());
}

#[tokio::test]
async fn a_completion_stamped_by_a_clock_5_s_behind_still_silences_the_reminder() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    let due = TestEvent::due("alice", "Water plants");
    let mut completed = due.then(EventKind::Completed, "TASK_STATE_COMPLETED");
    // Another replica, its clock behind: the later change looks older.
    completed.update_time = due.update_time - chrono::Duration::seconds(5);
    pair.publish_event(&completed).await;
    pair.publish_event(&due).await;
    let (_, _, why, _) = pair
        .wait_status(due.task_id, "SKIPPED", Duration::from_secs(10))
        .await;
    assert!(why.unwrap().contains("COMPLETED"));
    assert!(pair.standin.sent().is_empty());
}

#[tokio::test]
async fn an_event_postgresql_refuses_is_dead_lettered_and_the_next_still_delivered() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    // A data error PostgreSQL raises for one event only (SQLSTATE 23514):
    // any publisher's event can hold what our parser lets through.
    sqlx::query(
        "ALTER TABLE task_states ADD CONSTRAINT poison_for_this_test CHECK (user_id <> 'poison')",
    )
    .execute(&pair.pool)
    .await
    .unwrap();
    let poison = TestEvent::due("poison", "Never stored");
    let good = TestEvent::due("alice", "Still delivered");
    pair.publish_event(&poison).await;
    pair.publish_event(&good).await;
    pair.wait_status(good.task_id, "DELIVERED", Duration::from_secs(10))
        .await;
    let dead = pair.topology.dead_letter_queue();
    poll(Duration::from_secs(10), "the poison dead-lettered", || {
        let dead = dead.clone();
        async move { queue_depth(&dead).await == 1 }
    })
    .await;
    // Text PostgreSQL cannot store is refused when parsed.
    let nul = String::from_utf8(TestEvent::due("alice", "a").body())
        .unwrap()
        .replace("\"title\":\"a\"", "\"title\":\"a\\u0000b\"");
    pair.publish_raw("task.due", "nul", nul.as_bytes()).await;
    poll(
        Duration::from_secs(10),
        "the NUL title dead-lettered",
        || {
            let dead = dead.clone();
            async move { queue_depth(&dead).await == 2 }
        },
    )
    .await;
}

#[tokio::test]
async fn a_redelivered_or_republished_event_sends_nothing_twice() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    let event = TestEvent::due("alice", "Dentist");
    for _ in 0..3 {
        pair.publish_event(&event).await;
    }
    // Republished under a new id: same task, same reminder time.
    let mut again = event.clone();
    again.id = uuid::Uuid::now_v7();
    pair.publish_event(&again).await;
    // The last copy applied, so every copy before it too (one queue, in
    // order); then nothing left to send: a second notification would show.
    pair.wait_applied(again.id, Duration::from_secs(10)).await;
    pair.wait_status(event.task_id, "DELIVERED", Duration::from_secs(10))
        .await;
    pair.wait_nothing_pending(Duration::from_secs(10)).await;
    assert_eq!(pair.standin.sent().len(), 1);
    assert_eq!(pair.notifications_of(event.task_id).await.len(), 1);
}

#[tokio::test]
async fn a_malformed_event_is_dead_lettered_and_the_consumer_carries_on() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    pair.publish_raw("task.due", "junk-1", b"{ this is not json")
        .await;
    let wrong = String::from_utf8(TestEvent::due("alice", "x").body())
        .unwrap()
        .replace("\"1.0\"", "\"0.3\"");
    pair.publish_raw("task.due", "junk-2", wrong.as_bytes())
        .await;
    let dead = pair.topology.dead_letter_queue();
    poll(Duration::from_secs(10), "two dead letters", || {
        let dead = dead.clone();
        async move { queue_depth(&dead).await == 2 }
    })
    .await;
    let event = TestEvent::due("alice", "Still works");
    pair.publish_event(&event).await;
    pair.wait_status(event.task_id, "DELIVERED", Duration::from_secs(10))
        .await;
}

#[tokio::test]
async fn notifications_page_newest_first_without_gaps() {
    let pair = spawn_pair().await;
    for n in 0..7 {
        pair.publish_event(&TestEvent::due("nobody", &format!("n{n}")))
            .await;
    }
    let mut client = pair.notifier_client("nobody", Role::User).await;
    poll(Duration::from_secs(10), "seven notifications", || {
        let mut client = client.clone();
        async move {
            let page = client
                .list_notifications(pb::ListNotificationsRequest {
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            page.notifications.len() == 7
                && page
                    .notifications
                    .iter()
                    .all(|n| n.status() == pb::NotificationStatus::Skipped)
        }
    })
    .await;
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_notifications(pb::ListNotificationsRequest {
                page_size: 3,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.notifications.iter().map(|n| {
            (
                n.create_time.unwrap().seconds,
                n.create_time.unwrap().nanos,
                n.id.clone(),
            )
        }));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen.len(), sorted.len(), "no duplicates");
    let bad = client
        .list_notifications(pb::ListNotificationsRequest {
            page_token: "forged".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
}
