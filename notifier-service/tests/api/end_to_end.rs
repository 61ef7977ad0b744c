//! Both services, the real PostgreSQL and RabbitMQ, the Cloud API stand-in:
//! a task's reminder reaches WhatsApp on time in the right form, and the
//! buttons act on the task.

use std::time::Duration;

use chrono::Utc;
use todogenie_common::auth::Role;
use todogenie_proto::v1 as pb;

use crate::helpers::{poll, spawn_end_to_end, task_due_at, Pair, Tasks};

const PHONE: &str = "+14155550123";
const DIGITS: &str = "14155550123";

async fn state_of(tasks: &mut Tasks, id: &str) -> pb::Task {
    tasks
        .get_task(pb::GetTaskRequest { id: id.into() })
        .await
        .expect("GetTask")
        .into_inner()
}

/// The quick-reply payload (template) or reply id (interactive) of button `index`.
fn button(sent: &todogenie_standin::Sent, index: usize) -> String {
    let body = &sent.body;
    if sent.kind == "template" {
        body["template"]["components"][index + 1]["parameters"][0]["payload"]
            .as_str()
            .unwrap()
            .to_owned()
    } else {
        body["interactive"]["action"]["buttons"][index]["reply"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

async fn wait_task_state(pair: &Pair, tasks: &mut Tasks, id: &str, state: pb::TaskState) {
    let _ = pair;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if state_of(tasks, id).await.state() == state {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {id} did not become {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_reminder_due_in_seconds_arrives_as_a_template_on_time_and_done_completes_the_task() {
    let pair = spawn_end_to_end().await;
    pair.contact("alice", PHONE).await;
    let mut tasks = pair.tasks_client("alice").await;
    let due = Utc::now() + chrono::Duration::seconds(3);
    let task = task_due_at(&mut tasks, "Pay the rent", due).await;

    let sent = pair
        .standin
        .wait_for(Duration::from_secs(15), "the reminder", |s| !s.is_empty())
        .await;
    let [message] = sent.as_slice() else {
        panic!("one message, got {sent:?}")
    };
    assert_eq!(message.to, DIGITS);
    assert_eq!(message.kind, "template", "no window open: the template");
    let parameters = &message.body["template"]["components"][0]["parameters"];
    assert_eq!(parameters[0]["text"], "Pay the rent");
    // Shown in the contact's zone (Europe/Berlin).
    let local = due
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%H:%M")
        .to_string();
    assert!(
        parameters[1]["text"].as_str().unwrap().contains(&local),
        "{parameters}"
    );
    let lag = message.time - due;
    assert!(
        lag < chrono::Duration::seconds(2),
        "sent {lag} after its due time"
    );
    assert!(lag > chrono::Duration::zero(), "not before its time");

    // The status webhooks move it to DELIVERED.
    let mut notifier = pair.notifier_client("alice", Role::User).await;
    poll(Duration::from_secs(10), "DELIVERED", || {
        let mut notifier = notifier.clone();
        async move {
            let list = notifier
                .list_notifications(pb::ListNotificationsRequest::default())
                .await
                .unwrap()
                .into_inner();
            list.notifications.len() == 1
                && list.notifications[0].status() == pb::NotificationStatus::Delivered
        }
    })
    .await;
    let listed = notifier
        .list_notifications(pb::ListNotificationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let notification = &listed.notifications[0];
    assert_eq!(notification.task_id, task.id);
    assert_eq!(notification.provider_message_id, message.message_id);
    assert_eq!(notification.attempts, 1);
    let fetched = notifier
        .get_notification(pb::GetNotificationRequest {
            id: notification.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, *notification);

    assert_eq!(
        pair.standin
            .user_presses(DIGITS, &button(message, 0), true)
            .await,
        200
    );
    wait_task_state(&pair, &mut tasks, &task.id, pb::TaskState::Completed).await;
    // Acknowledged like a person would: ✅ on the press (once the number's
    // 6-second slot after the reminder is free; a 131056 at its very end,
    // WhatsApp counting from when it took the reminder, costs one more).
    let reacted = pair
        .standin
        .wait_for(Duration::from_secs(25), "the ✅ reaction", |sent| {
            sent.iter().any(|m| m.kind == "reaction")
        })
        .await;
    let reaction = reacted.iter().find(|m| m.kind == "reaction").unwrap();
    assert_eq!(reaction.body["reaction"]["emoji"], "✅");
    assert!(reaction.body["reaction"]["message_id"]
        .as_str()
        .unwrap()
        .starts_with("wamid.in."));
}

#[tokio::test]
async fn after_an_inbound_message_the_reminder_has_reply_buttons_and_snooze_snoozes() {
    let pair = spawn_end_to_end().await;
    pair.contact("alice", PHONE).await;
    // A sticker opens the window and asks for nothing (words would make a task).
    assert_eq!(pair.standin.user_sends_sticker(DIGITS).await, 200);
    let notifier = pair.notifier_client("alice", Role::User).await;
    poll(Duration::from_secs(5), "the window to open", || {
        let mut notifier = notifier.clone();
        async move {
            let contact = notifier
                .get_contact(pb::GetContactRequest::default())
                .await
                .unwrap()
                .into_inner();
            contact.window_expire_time.is_some()
        }
    })
    .await;

    let mut tasks = pair.tasks_client("alice").await;
    let task = task_due_at(
        &mut tasks,
        "Call the bank",
        Utc::now() + chrono::Duration::seconds(2),
    )
    .await;
    let sent = pair
        .standin
        .wait_for(Duration::from_secs(15), "the reminder", |s| !s.is_empty())
        .await;
    assert_eq!(sent[0].kind, "interactive");
    let buttons = &sent[0].body["interactive"]["action"]["buttons"];
    assert_eq!(buttons[0]["reply"]["title"], "Done");
    assert_eq!(buttons[1]["reply"]["title"], "Snooze 1h");

    let before = state_of(&mut tasks, &task.id).await;
    assert_eq!(
        pair.standin
            .user_presses(DIGITS, &button(&sent[0], 1), false)
            .await,
        200
    );
    // A snooze adds a one-off reminder (not among the task's own) and
    // touches the task: its etag moves, its state stays.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = state_of(&mut tasks, &task.id).await;
        if now.etag != before.etag {
            assert_eq!(now.state(), pb::TaskState::Pending);
            assert_eq!(now.reminders, before.reminders);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task was not snoozed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pair.standin
        .wait_for(Duration::from_secs(15), "the ⏰ reaction", |sent| {
            sent.iter()
                .any(|m| m.kind == "reaction" && m.body["reaction"]["emoji"] == "⏰")
        })
        .await;
    // The press is finished right after its reaction is sent.
    let finished = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM inbound WHERE kind = 'snooze' \
             AND done_time IS NOT NULL AND last_error IS NULL",
        )
        .fetch_one(&pair.pool)
        .await
        .unwrap()
    };
    crate::helpers::poll(
        Duration::from_secs(10),
        "the press to be finished without error",
        || async { finished().await == 1 },
    )
    .await;
    let snoozes: i64 = sqlx::query_scalar("SELECT count(*) FROM inbound WHERE kind = 'snooze'")
        .fetch_one(&pair.pool)
        .await
        .unwrap();
    assert_eq!(snoozes, 1, "acted on once");
}

#[tokio::test]
async fn five_reminders_of_one_user_at_once_make_one_digest_and_no_pair_limit() {
    let pair = spawn_end_to_end().await;
    pair.contact("alice", PHONE).await;
    let mut tasks = pair.tasks_client("alice").await;
    let due = Utc::now() + chrono::Duration::seconds(3);
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(task_due_at(&mut tasks, &format!("Chore {n}"), due).await.id);
    }
    let sent = pair.wait_settled(Duration::from_secs(15)).await;
    let sent_now = pair.standin.sent_to(DIGITS);
    assert_eq!(
        sent_now.len(),
        1,
        "one digest, not {}: {sent_now:?}",
        sent_now.len()
    );
    assert_eq!(
        pair.standin.requests_to(DIGITS),
        1,
        "no refused attempts either"
    );
    assert_eq!(pair.standin.refused(131_056), 0);
    let title = sent[0].body["template"]["components"][0]["parameters"][0]["text"]
        .as_str()
        .unwrap();
    assert!(title.starts_with("5 tasks:"), "{title}");
    for n in 1..=5 {
        assert!(title.contains(&format!("Chore {n}")), "{title}");
    }

    assert_eq!(
        pair.standin
            .user_presses(DIGITS, &button(&sent[0], 0), true)
            .await,
        200
    );
    for id in &ids {
        wait_task_state(&pair, &mut tasks, id, pb::TaskState::Completed).await;
    }
}
