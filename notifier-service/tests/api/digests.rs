//! When reminders go out: those of one recipient due together gathered into
//! one digest (however late and apart they arrive, however many rounds
//! claim side by side), and quiet hours holding a reminder until they end.

use std::time::Duration;

use todogenie_common::auth::Role;
use todogenie_proto::v1 as pb;

use crate::helpers::{poll, spawn_pair, TestEvent};

const PHONE: &str = "+14155550123";
const DIGITS: &str = "14155550123";

/// Reminders of one recipient that fall due together but reach the
/// notifier late and in pieces (a relay's batches, the consumer's) still go
/// out as one digest: a late one waits the gathering window from its
/// arrival, and each later one carries those waiting along. Before, a late
/// reminder was due at once and went alone (CI of 2026-12-05: four of five
/// as a digest, the fifth 6 s later).
#[tokio::test]
async fn reminders_due_together_that_arrive_late_and_apart_make_one_digest() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    let late = chrono::Utc::now() - chrono::Duration::seconds(10);
    let titles = ["Rent", "Gas", "Water"];
    let mut gaps = Vec::new();
    for title in titles {
        let event = TestEvent {
            reminder_time: late,
            ..TestEvent::due("alice", title)
        };
        let start = tokio::time::Instant::now();
        pair.publish_event(&event).await;
        // The next is published only once this one has its row: each
        // arrives in a batch of its own.
        poll(Duration::from_secs(10), "the reminder's row", || async {
            !pair.notifications_of(event.task_id).await.is_empty()
        })
        .await;
        gaps.push(start.elapsed());
    }
    pair.wait_settled(Duration::from_secs(15)).await;
    let sent = pair.standin.sent_to(DIGITS);
    assert_eq!(
        sent.len(),
        1,
        "one digest, not {} (arrivals {gaps:?} apart): {sent:?}",
        sent.len()
    );
    let text = sent[0].body["template"]["components"][0]["parameters"][0]["text"]
        .as_str()
        .unwrap();
    assert!(text.starts_with("3 tasks:"), "{text}");
    for title in titles {
        assert!(text.contains(title), "{text}");
    }
}

/// Many recipients with three reminders each, all due at one moment: both
/// delivery loops wake for it and claim side by side, in rounds smaller
/// than the whole (40 recipients at 80 messages/s), and still every
/// recipient gets exactly one digest of their three. Before, each loop
/// took some of a recipient's rows, and a round's LIMIT cut one at its edge.
#[tokio::test]
async fn rounds_that_claim_side_by_side_take_whole_digests() {
    const RECIPIENTS: usize = 60;
    let pair = spawn_pair().await;
    let phone = |n: usize| format!("+1415556{n:04}");
    for n in 0..RECIPIENTS {
        pair.contact(&format!("user{n}"), &phone(n)).await;
    }
    // Far enough ahead that every event is in before it falls due.
    let due = chrono::Utc::now() + chrono::Duration::seconds(5);
    let events: Vec<TestEvent> = (0..RECIPIENTS)
        .flat_map(|n| {
            ["Rent", "Gas", "Water"].map(|title| TestEvent {
                reminder_time: due,
                ..TestEvent::due(&format!("user{n}"), title)
            })
        })
        .collect();
    pair.publish_events(&events).await;
    pair.standin
        .wait_for(
            Duration::from_secs(30),
            "a message to every recipient",
            |s| s.len() >= RECIPIENTS,
        )
        .await;
    // Nothing left to send: a reminder cut off a digest would still be
    // pending.
    pair.wait_nothing_pending(Duration::from_secs(15)).await;
    let sent = pair.standin.sent();
    let pieces: Vec<(String, String)> = sent
        .iter()
        .map(|m| {
            let text = m.body["template"]["components"][0]["parameters"][0]["text"]
                .as_str()
                .unwrap_or_default();
            (m.to.clone(), text.to_owned())
        })
        .filter(|(_, text)| !text.starts_with("3 tasks:"))
        .collect();
    assert!(pieces.is_empty(), "digests in pieces: {pieces:?}");
    let to: std::collections::HashSet<&str> = sent.iter().map(|m| m.to.as_str()).collect();
    assert_eq!((sent.len(), to.len()), (RECIPIENTS, RECIPIENTS));
}

#[tokio::test]
async fn quiet_hours_hold_a_reminder_until_they_end() {
    let pair = spawn_pair().await;
    let zone = chrono_tz::Europe::Berlin;
    let local = chrono::Utc::now().with_timezone(&zone);
    let start = (local - chrono::Duration::hours(1))
        .format("%H:%M")
        .to_string();
    let end = (local + chrono::Duration::hours(1))
        .format("%H:%M")
        .to_string();
    let mut client = pair.notifier_client("alice", Role::User).await;
    pair.notifier_client("ops", Role::Service)
        .await
        .upsert_contact(pb::UpsertContactRequest {
            confirmed: true,
            contact: Some(pb::Contact {
                user_id: "alice".into(),
                phone_number: PHONE.into(),
                time_zone: "Europe/Berlin".into(),
                whatsapp_opt_in: true,
                quiet_hours: Some(pb::QuietHours {
                    start,
                    end: end.clone(),
                }),
                ..pb::Contact::default()
            }),
        })
        .await
        .unwrap();
    let event = TestEvent::due("alice", "Late call");
    pair.publish_event(&event).await;
    pair.wait_status(event.task_id, "DEFERRED", Duration::from_secs(10))
        .await;
    let listed = client
        .list_notifications(pb::ListNotificationsRequest {
            statuses: vec![pb::NotificationStatus::Deferred.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let scheduled = listed.notifications[0].scheduled_time.as_ref().unwrap();
    let at = chrono::DateTime::from_timestamp(scheduled.seconds, 0)
        .unwrap()
        .with_timezone(&zone);
    assert_eq!(
        at.format("%H:%M").to_string(),
        end,
        "held until the end of quiet hours"
    );
    assert!(pair.standin.sent().is_empty());
}
