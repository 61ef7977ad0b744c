//! The webhooks: Meta's handshake, signatures, shapes, repeats, and statuses
//! that only move forward; Twilio's signature.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_pair, TestEvent, VERIFY_TOKEN};

const PHONE: &str = "+14155550123";
const DIGITS: &str = "14155550123";

#[tokio::test]
async fn the_verify_handshake_echoes_the_challenge_only_for_our_token() {
    let pair = spawn_pair().await;
    let base = format!("http://{}/webhooks/whatsapp", pair.notifier().http_addr);
    let good = reqwest::get(format!(
        "{base}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    ))
    .await
    .unwrap();
    assert_eq!(good.status(), 200);
    assert_eq!(good.text().await.unwrap(), "1158201444");
    let bad = reqwest::get(format!(
        "{base}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"
    ))
    .await
    .unwrap();
    assert_eq!(bad.status(), 403);
}

#[tokio::test]
async fn a_forged_or_misshapen_webhook_is_refused_and_changes_nothing() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    let stop = serde_json::to_vec(&pair.standin.webhooks.text_payload(DIGITS, "STOP")).unwrap();
    let forged = todogenie_standin::sign(b"not-the-app-secret", &stop);
    assert_eq!(
        pair.standin
            .webhooks
            .post_signed_with(&stop, Some(&forged))
            .await,
        401
    );
    assert_eq!(
        pair.standin.webhooks.post_signed_with(&stop, None).await,
        401
    );
    // Signed, but a byte changed after signing.
    let good = todogenie_standin::sign(b"test-app-secret", &stop);
    let mut tampered = stop.clone();
    tampered.push(b' ');
    assert_eq!(
        pair.standin
            .webhooks
            .post_signed_with(&tampered, Some(&good))
            .await,
        401
    );
    // Signed, but not the Cloud API's shape.
    assert_eq!(
        pair.standin
            .webhooks
            .post(&json!({ "object": "page", "entry": [] }))
            .await,
        400
    );
    assert_eq!(
        pair.standin.webhooks.post(&json!({ "entry": 7 })).await,
        400
    );

    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM inbound")
        .fetch_one(&pair.pool)
        .await
        .unwrap();
    assert_eq!(recorded, 0);
    let opted_in: bool = sqlx::query_scalar("SELECT whatsapp_opt_in FROM contacts")
        .fetch_one(&pair.pool)
        .await
        .unwrap();
    assert!(opted_in);

    // Twilio: a request without a valid X-Twilio-Signature.
    let twilio = reqwest::Client::new()
        .post(format!(
            "http://{}/webhooks/twilio",
            pair.notifier().http_addr
        ))
        .header("x-twilio-signature", "bm9wZQ==")
        .form(&[
            ("MessageSid", "SM1"),
            ("From", "whatsapp:+14155550123"),
            ("Body", "STOP"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(twilio.status(), 401);
}

#[tokio::test]
async fn repeated_webhooks_change_nothing_and_statuses_only_move_forward() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    let event = TestEvent::due("alice", "Statuses");
    pair.publish_event(&event).await;
    pair.wait_status(event.task_id, "DELIVERED", Duration::from_secs(10))
        .await;
    let wamid = pair.standin.sent()[0].message_id.clone();
    let webhooks = &pair.standin.webhooks;
    let read = webhooks.status_payload(json!({
        "id": wamid, "status": "read", "timestamp": "1700000100", "recipient_id": DIGITS,
    }));
    assert_eq!(webhooks.post(&read).await, 200);
    assert_eq!(webhooks.post(&read).await, 200, "a repeat is accepted");
    pair.wait_status(event.task_id, "READ", Duration::from_secs(10))
        .await;
    // A late `delivered` (new to us: another status) never overwrites `read`.
    webhooks
        .statuses(&wamid, DIGITS, &["delivered", "sent"], None)
        .await;
    let pending = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inbound WHERE done_time IS NULL")
            .fetch_one(&pair.pool)
            .await
            .unwrap()
    };
    crate::helpers::poll(
        Duration::from_secs(10),
        "the late statuses to be handled",
        || async { pending().await == 0 },
    )
    .await;
    assert_eq!(pair.notifications_of(event.task_id).await[0].0, "READ");

    // The same inbound STOP delivered twice: one confirmation.
    let stop = webhooks.text_payload(DIGITS, "STOP");
    pair.standin.open_window(DIGITS);
    assert_eq!(webhooks.post(&stop).await, 200);
    assert_eq!(webhooks.post(&stop).await, 200);
    // (Status reports of the confirmation itself may still wait: it is no notification.)
    crate::helpers::poll(
        Duration::from_secs(20),
        "the STOP to be handled",
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM inbound WHERE kind = 'stop' AND done_time IS NULL",
            )
            .fetch_one(&pair.pool)
            .await
            .unwrap()
                == 0
        },
    )
    .await;
    let texts = pair
        .standin
        .sent()
        .iter()
        .filter(|s| s.kind == "text")
        .count();
    assert_eq!(texts, 1);
}

#[tokio::test]
async fn a_signed_twilio_stop_opts_the_contact_out() {
    let params: Vec<(String, String)> = [
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("From", "whatsapp:+14155550123"),
        ("To", "whatsapp:+14155238886"),
        ("Body", "Stop"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    // Signed with the auth token over NOTIFIER_PUBLIC_URL, as Twilio does
    // (the pair's notifier has a Twilio token only when SMS is configured).
    let pair = crate::helpers::spawn_with(crate::helpers::Options {
        sms_fallback: true,
        ..Default::default()
    })
    .await;
    pair.contact("alice", PHONE).await;
    let url = "https://notifier.example.com/webhooks/twilio";
    let signature = todogenie_standin::twilio_sign("test-twilio-token", url, &params);
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/webhooks/twilio",
            pair.notifier().http_addr
        ))
        .header("x-twilio-signature", signature)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("<Response>"));
    crate::helpers::poll(Duration::from_secs(10), "the number stopped", || async {
        sqlx::query_scalar::<_, bool>("SELECT stopped FROM numbers")
            .fetch_one(&pair.pool)
            .await
            .unwrap()
    })
    .await;
}

#[tokio::test]
async fn every_inbound_message_is_marked_read_once() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    assert_eq!(pair.standin.user_writes(DIGITS, "hello").await, 200);
    assert_eq!(pair.standin.user_writes(DIGITS, "STOP").await, 200);
    crate::helpers::poll(Duration::from_secs(10), "two reads", || async {
        pair.standin.reads().len() == 2
    })
    .await;
    let reads = pair.standin.reads();
    assert!(
        reads.iter().all(|id| id.starts_with("wamid.in.")),
        "{reads:?}"
    );
    assert_ne!(reads[0], reads[1]);
    // Status reports (sent, delivered) are not messages: none is marked read.
    pair.contact("carol", "+14155550188").await;
    let event = TestEvent::due("carol", "Delivered");
    pair.publish_event(&event).await;
    pair.wait_status(event.task_id, "DELIVERED", Duration::from_secs(10))
        .await;
    assert_eq!(pair.standin.reads().len(), 2);
}

#[tokio::test]
async fn help_is_answered_to_a_confirmed_number() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    assert_eq!(pair.standin.user_writes(DIGITS, " Help ").await, 200);
    let sent = pair
        .standin
        .wait_for(Duration::from_secs(10), "the help text", |s| !s.is_empty())
        .await;
    assert_eq!(sent[0].kind, "text");
    assert!(sent[0].body["text"]["body"]
        .as_str()
        .unwrap()
        .contains("STOP"));
}

/// Deliveries that arrive together are recorded together (one statement,
/// one commit): each is still answered 200 once recorded, each report kept
/// once (repeats within the same batch included), and an inbound message
/// among them still opens its sender's 24-hour window.
#[tokio::test]
async fn deliveries_arriving_together_are_each_recorded_once() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    let webhooks = &pair.standin.webhooks;
    let statuses: Vec<serde_json::Value> = (0..40)
        .map(|i| {
            webhooks.status_payload(json!({
                "id": format!("wamid.together{i}"), "status": "delivered",
                "timestamp": "1700000100", "recipient_id": DIGITS,
            }))
        })
        .collect();
    let text = webhooks.text_payload(DIGITS, "hello");
    let mut posts: Vec<&serde_json::Value> =
        statuses.iter().chain(statuses.iter().take(10)).collect();
    posts.extend([&text, &text]);
    let codes = futures::future::join_all(posts.iter().map(|p| webhooks.post(p))).await;
    assert!(codes.iter().all(|c| *c == 200), "{codes:?}");

    let pool = &pair.pool;
    let count = |sql: &'static str, bind: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .bind(bind)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    assert_eq!(
        count(
            "SELECT count(*) FROM inbound WHERE key LIKE $1",
            "meta:status:wamid.together%"
        )
        .await,
        40
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM inbound WHERE kind = 'text' AND from_number = $1",
            PHONE
        )
        .await,
        1
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM contacts WHERE phone_number = $1 \
             AND window_expire_time > now() + interval '23 hours'",
            PHONE
        )
        .await,
        1,
        "the message opened its sender's window"
    );
}

/// Status reports that reach the worker together are applied together: of
/// several for one message, the furthest along counts, whatever order they
/// came in; each report is finished once.
#[tokio::test]
async fn statuses_applied_together_end_at_the_furthest() {
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    let event = TestEvent::due("alice", "Together");
    pair.publish_event(&event).await;
    pair.wait_status(event.task_id, "DELIVERED", Duration::from_secs(10))
        .await;
    let wamid = pair.standin.sent()[0].message_id.clone();
    let webhooks = &pair.standin.webhooks;
    let payloads: Vec<serde_json::Value> = ["read", "delivered", "sent"]
        .iter()
        .enumerate()
        .map(|(i, status)| {
            webhooks.status_payload(json!({
                "id": wamid, "status": status, "timestamp": format!("17000002{i:02}"),
                "recipient_id": DIGITS,
            }))
        })
        .collect();
    let codes = futures::future::join_all(payloads.iter().map(|p| webhooks.post(p))).await;
    assert_eq!(codes, [200, 200, 200]);
    crate::helpers::poll(
        Duration::from_secs(10),
        "every status report to be handled",
        || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inbound WHERE done_time IS NULL")
                .fetch_one(&pair.pool)
                .await
                .unwrap()
                == 0
        },
    )
    .await;
    assert_eq!(pair.notifications_of(event.task_id).await[0].0, "READ");
}
