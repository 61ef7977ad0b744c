//! The number confirms (CONTRACT §5): a number typed into a contact gets a
//! confirmation request and nothing else until it says Yes; at most one
//! request a day; STOP holds whatever UpsertContact says until START; only
//! admin and service callers may vouch for a number.

use std::time::Duration;

use todogenie_common::auth::Role;
use todogenie_proto::v1 as pb;
use tonic::Code;

use crate::helpers::{spawn_pair, Notifiers, Pair, TestEvent};

const PHONE: &str = "+14155550123";
const DIGITS: &str = "14155550123";

fn opted_in(user: &str) -> pb::Contact {
    pb::Contact {
        user_id: user.into(),
        phone_number: PHONE.into(),
        time_zone: "Europe/Berlin".into(),
        whatsapp_opt_in: true,
        ..pb::Contact::default()
    }
}

async fn upsert(client: &mut Notifiers, contact: pb::Contact, confirmed: bool) -> pb::Contact {
    client
        .upsert_contact(pb::UpsertContactRequest {
            contact: Some(contact),
            confirmed,
        })
        .await
        .expect("UpsertContact")
        .into_inner()
}

async fn status_of(pair: &Pair, user: &str) -> pb::WhatsAppStatus {
    pair.notifier_client(user, Role::User)
        .await
        .get_contact(pb::GetContactRequest::default())
        .await
        .unwrap()
        .into_inner()
        .whatsapp_status()
}

#[tokio::test]
async fn a_number_gets_only_the_confirmation_until_it_says_yes() {
    let pair = spawn_pair().await;
    let mut alice = pair.notifier_client("alice", Role::User).await;
    let saved = upsert(&mut alice, opted_in(""), false).await;
    assert_eq!(
        saved.whatsapp_status(),
        pb::WhatsAppStatus::WhatsappStatusPending
    );

    // The approved template, {{1}} the user, Yes and No as quick replies.
    let sent = pair
        .standin
        .wait_for(Duration::from_secs(10), "the confirmation request", |s| {
            !s.is_empty()
        })
        .await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, "template");
    let template = &sent[0].body["template"];
    assert_eq!(template["name"], "reminders_opt_in");
    assert_eq!(template["components"][0]["parameters"][0]["text"], "alice");
    let yes = template["components"][1]["parameters"][0]["payload"]
        .as_str()
        .unwrap()
        .to_owned();

    // Before Yes: a reminder is skipped with the reason, nothing is sent.
    let early = TestEvent::due("alice", "Too early");
    pair.publish_event(&early).await;
    let (_, _, why, _) = pair
        .wait_status(early.task_id, "SKIPPED", Duration::from_secs(10))
        .await;
    assert!(why.unwrap().contains("WHATSAPP_STATUS_PENDING"));
    // Upserting again within 24 hours asks nothing more.
    upsert(&mut alice, opted_in(""), false).await;
    assert_eq!(pair.standin.sent_to(DIGITS).len(), 1);

    // Yes: CONFIRMED, and reminders flow.
    assert_eq!(pair.standin.user_presses(DIGITS, &yes, true).await, 200);
    crate::helpers::poll(Duration::from_secs(10), "CONFIRMED", || async {
        status_of(&pair, "alice").await == pb::WhatsAppStatus::WhatsappStatusConfirmed
    })
    .await;
    let reminder = TestEvent::due("alice", "Now it flows");
    pair.publish_event(&reminder).await;
    pair.wait_status(reminder.task_id, "DELIVERED", Duration::from_secs(20))
        .await;

    // Off shows OFF; on again shows CONFIRMED without asking.
    let off = upsert(
        &mut alice,
        pb::Contact {
            whatsapp_opt_in: false,
            ..opted_in("")
        },
        false,
    )
    .await;
    assert_eq!(off.whatsapp_status(), pb::WhatsAppStatus::WhatsappStatusOff);
    let on = upsert(&mut alice, opted_in(""), false).await;
    assert_eq!(
        on.whatsapp_status(),
        pb::WhatsAppStatus::WhatsappStatusConfirmed
    );
    assert!(
        pair.standin
            .sent_to(DIGITS)
            .iter()
            .all(|s| s.body["template"]["name"] != "reminders_opt_in" || s.time == sent[0].time),
        "no second request"
    );
}

#[tokio::test]
async fn inside_the_window_the_request_is_yes_and_no_buttons_and_no_stops_it() {
    let pair = spawn_pair().await;
    // The number wrote to us first: the window is open.
    assert_eq!(pair.standin.user_writes(DIGITS, "hello").await, 200);
    let mut bob = pair.notifier_client("bob", Role::User).await;
    upsert(&mut bob, opted_in(""), false).await;
    // The number's "hello" also gets its one "not linked" answer, before or
    // after the request (each in its own 6-second slot).
    let sent = pair
        .standin
        .wait_for(Duration::from_secs(30), "the buttons", |s| {
            s.iter().any(|m| m.kind == "interactive")
        })
        .await;
    let request = sent.iter().find(|m| m.kind == "interactive").unwrap();
    let buttons = &request.body["interactive"]["action"]["buttons"];
    assert_eq!(buttons[0]["reply"]["title"], "Yes");
    let no = buttons[1]["reply"]["id"].as_str().unwrap().to_owned();
    assert_eq!(pair.standin.user_presses(DIGITS, &no, false).await, 200);
    crate::helpers::poll(Duration::from_secs(10), "STOPPED", || async {
        status_of(&pair, "bob").await == pb::WhatsAppStatus::WhatsappStatusStopped
    })
    .await;
}

#[tokio::test]
async fn stop_holds_against_any_upsert_until_the_number_sends_start() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    assert_eq!(pair.standin.user_writes(DIGITS, "STOP").await, 200);
    crate::helpers::poll(Duration::from_secs(10), "STOPPED", || async {
        status_of(&pair, "alice").await == pb::WhatsAppStatus::WhatsappStatusStopped
    })
    .await;
    // Neither the user nor a service vouching for the number lifts it.
    let mut alice = pair.notifier_client("alice", Role::User).await;
    let again = upsert(&mut alice, opted_in(""), false).await;
    assert_eq!(
        again.whatsapp_status(),
        pb::WhatsAppStatus::WhatsappStatusStopped
    );
    let mut service = pair.notifier_client("ops", Role::Service).await;
    let vouched = upsert(&mut service, opted_in("alice"), true).await;
    assert_eq!(
        vouched.whatsapp_status(),
        pb::WhatsAppStatus::WhatsappStatusStopped
    );
    let event = TestEvent::due("alice", "Held by STOP");
    pair.publish_event(&event).await;
    let (_, _, why, _) = pair
        .wait_status(event.task_id, "SKIPPED", Duration::from_secs(10))
        .await;
    assert!(why.unwrap().contains("STOP"));
    // START from the number: CONFIRMED again.
    assert_eq!(pair.standin.user_writes(DIGITS, "start").await, 200);
    crate::helpers::poll(Duration::from_secs(10), "CONFIRMED", || async {
        status_of(&pair, "alice").await == pb::WhatsAppStatus::WhatsappStatusConfirmed
    })
    .await;
}

#[tokio::test]
async fn only_admin_and_service_callers_may_vouch_for_a_number() {
    let pair = spawn_pair().await;
    let mut alice = pair.notifier_client("alice", Role::User).await;
    let status = alice
        .upsert_contact(pb::UpsertContactRequest {
            contact: Some(opted_in("")),
            confirmed: true,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let mut admin = pair.notifier_client("root", Role::Admin).await;
    let vouched = upsert(&mut admin, opted_in("alice"), true).await;
    assert_eq!(
        vouched.whatsapp_status(),
        pb::WhatsAppStatus::WhatsappStatusConfirmed
    );
    // Nothing was asked of a number vouched for.
    assert!(pair.standin.sent().is_empty());
}

#[tokio::test]
async fn delete_contact_forgets_the_number_at_once() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    assert_eq!(pair.standin.user_writes(DIGITS, "STOP").await, 200);
    crate::helpers::poll(Duration::from_secs(10), "STOPPED", || async {
        status_of(&pair, "alice").await == pb::WhatsAppStatus::WhatsappStatusStopped
    })
    .await;
    let count = |sql: &'static str| {
        let pool = pair.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(PHONE)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        count("SELECT count(*) FROM numbers WHERE phone_number = $1").await,
        1
    );
    assert!(count("SELECT count(*) FROM inbound WHERE from_number = $1").await >= 1);
    pair.notifier_client("alice", Role::User)
        .await
        .delete_contact(pb::DeleteContactRequest::default())
        .await
        .unwrap();
    assert_eq!(
        count("SELECT count(*) FROM numbers WHERE phone_number = $1").await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM inbound WHERE from_number = $1").await,
        0
    );
}

#[tokio::test]
async fn a_user_may_ask_at_most_three_numbers_a_day() {
    let pair = spawn_pair().await;
    let mut mallory = pair.notifier_client("mallory", Role::User).await;
    for i in 0..3 {
        let contact = pb::Contact {
            phone_number: format!("+1415555{:04}", 300 + i),
            ..opted_in("")
        };
        upsert(&mut mallory, contact, false).await;
    }
    let fourth = pb::Contact {
        phone_number: "+14155550399".into(),
        ..opted_in("")
    };
    let status = mallory
        .upsert_contact(pb::UpsertContactRequest {
            contact: Some(fourth),
            confirmed: false,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("at most 3 numbers"));
    // Nothing was written: the contact keeps the third number.
    let kept = mallory
        .get_contact(pb::GetContactRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.phone_number, "+14155550302");
    pair.standin
        .wait_for(Duration::from_secs(10), "three requests", |s| s.len() == 3)
        .await;
    // Another user is not held by mallory's limit.
    upsert(
        &mut pair.notifier_client("alice", Role::User).await,
        opted_in(""),
        false,
    )
    .await;
}

#[tokio::test]
async fn a_number_confirmed_for_one_user_is_not_confirmed_for_another() {
    let pair = spawn_pair().await;
    // alice's number, confirmed for alice (vouched for by a service).
    pair.contact("alice", PHONE).await;
    // mallory types the same number in: PENDING, and her reminders skip.
    let mut mallory = pair.notifier_client("mallory", Role::User).await;
    let hers = upsert(&mut mallory, opted_in(""), false).await;
    assert_eq!(
        hers.whatsapp_status(),
        pb::WhatsAppStatus::WhatsappStatusPending
    );
    let event = TestEvent::due("mallory", "Spam");
    pair.publish_event(&event).await;
    let (_, _, why, _) = pair
        .wait_status(event.task_id, "SKIPPED", Duration::from_secs(10))
        .await;
    assert!(why.unwrap().contains("WHATSAPP_STATUS_PENDING"));
    // The request names mallory; the number's owner says No.
    let sent = pair
        .standin
        .wait_for(Duration::from_secs(10), "mallory's request", |s| {
            !s.is_empty()
        })
        .await;
    assert_eq!(
        sent[0].body["template"]["components"][0]["parameters"][0]["text"],
        "mallory"
    );
    assert_eq!(
        status_of(&pair, "alice").await,
        pb::WhatsAppStatus::WhatsappStatusConfirmed
    );
}
