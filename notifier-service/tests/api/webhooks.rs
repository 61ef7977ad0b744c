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
async fn an_oversized_or_slow_webhook_is_refused_while_a_normal_one_is_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    let addr = pair.notifier().http_addr;
    let url = format!("http://{addr}/webhooks/whatsapp");

    // Over 1 MiB, even correctly signed: 413, nothing recorded.
    let huge = vec![b' '; 1024 * 1024 + 1];
    let signature = todogenie_standin::sign(b"test-app-secret-0123456789", &huge);
    let response = reqwest::Client::new()
        .post(&url)
        .header("x-hub-signature-256", signature)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Headers that never end, and a body that never comes.
    let mut slow_headers = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow_headers
        .write_all(b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: notifier\r\n")
        .await
        .unwrap();
    let mut slow_body = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow_body
        .write_all(
            b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: notifier\r\nContent-Length: 100\r\n\
              X-Hub-Signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000\r\n\r\n{\"object\"",
        )
        .await
        .unwrap();

    // Meanwhile a normal webhook is answered.
    assert_eq!(pair.standin.user_writes(DIGITS, "hello").await, 200);

    // Within the 10 s header timeout (and some), the slow connections end.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), slow_headers.read_to_end(&mut buf))
        .await
        .expect("the server drops a client that never finishes its headers");
    assert!(
        read.is_err() || buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    let answer = first_answer(
        &mut slow_body,
        Duration::from_secs(20),
        "the server answers a body that never arrives",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
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

/// A provider id too long to record (`inbound.key` is a B-tree key of at
/// most 2,704 bytes) leaves out its own report, not the delivery: Meta's
/// delivery is answered 200 and its other message kept; Twilio's form, one
/// report, is refused 400. Neither fails (500) into retries for ever.
#[tokio::test]
async fn a_report_with_an_id_too_long_to_record_is_left_out_alone() {
    let pair = crate::helpers::spawn_with(crate::helpers::Options {
        sms_fallback: true,
        ..Default::default()
    })
    .await;
    pair.contact("alice", PHONE).await;
    // Random hex does not compress: 3,200 bytes stay 3,200 in the index.
    let long: String = (0..100)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    let webhooks = &pair.standin.webhooks;
    let mut delivery = webhooks.text_payload(DIGITS, "hello");
    let value = &mut delivery["entry"][0]["changes"][0]["value"];
    let mut too_long = value["messages"][0].clone();
    too_long["id"] = json!(long);
    value["messages"].as_array_mut().unwrap().push(too_long);
    value["statuses"] = json!([{
        "id": long, "status": "delivered", "timestamp": "1700000100", "recipient_id": DIGITS,
    }]);
    assert_eq!(webhooks.post(&delivery).await, 200);
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM inbound")
        .fetch_all(&pair.pool)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("meta:message:wamid.in."), "{keys:?}");

    let params: Vec<(String, String)> = [
        ("MessageSid", long.as_str()),
        ("MessageStatus", "delivered"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let url = "https://notifier.example.com/webhooks/twilio";
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/webhooks/twilio",
            pair.notifier().http_addr
        ))
        .header(
            "x-twilio-signature",
            todogenie_standin::twilio_sign("test-twilio-token", url, &params),
        )
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM inbound")
        .fetch_one(&pair.pool)
        .await
        .unwrap();
    assert_eq!(recorded, 1);
}

/// Webhook bodies held at once are bounded over the whole port: clients that
/// send most of a 1 MiB body on many connections and then wait fill the
/// budget, and the next is answered 503 with Retry-After at once (before,
/// each was held for its 10 s, 200 streams a connection); once they go, a
/// webhook is recorded again. A body without a well-formed signature header
/// is refused before it is read.
#[tokio::test]
async fn stalled_webhook_bodies_hold_at_most_the_ports_budget() {
    use tokio::io::AsyncWriteExt;
    let pair = spawn_pair().await;
    pair.contact("alice", PHONE).await;
    let addr = pair.notifier().http_addr;

    let mut unsigned = tokio::net::TcpStream::connect(addr).await.unwrap();
    unsigned
        .write_all(
            b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: notifier\r\nContent-Length: 1000\r\n\
              X-Hub-Signature-256: sha256=00\r\n\r\n",
        )
        .await
        .unwrap();
    let answer = first_answer(
        &mut unsigned,
        Duration::from_secs(5),
        "a malformed signature waited for its body",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    let body = vec![b' '; 1_000_000];
    let head = format!(
        "POST /webhooks/whatsapp HTTP/1.1\r\nHost: notifier\r\nContent-Length: {}\r\n\
         X-Hub-Signature-256: sha256={}\r\n\r\n",
        1024 * 1024,
        "0".repeat(64)
    );
    let mut stalled = Vec::new();
    for _ in 0..70 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        stalled.push(stream);
    }
    // (The timeout below is the one that counts.)
    let answers = stalled
        .iter_mut()
        .map(|stream| Box::pin(first_answer(stream, Duration::from_secs(60), "an answer")));
    let (first, _, _) =
        tokio::time::timeout(Duration::from_secs(8), futures::future::select_all(answers))
            .await
            .expect("no body was refused: every one was held");
    assert!(first.starts_with("HTTP/1.1 503"), "{first}");
    assert!(
        first.to_ascii_lowercase().contains("retry-after: 1"),
        "{first}"
    );

    drop(stalled);
    crate::helpers::poll(
        Duration::from_secs(10),
        "a webhook recorded after the stalled bodies went",
        || async { pair.standin.user_writes(DIGITS, "hello").await == 200 },
    )
    .await;
}

/// The start of what the server first sends on `stream`, within `within`
/// (else a panic saying what was `waited_for`).
async fn first_answer(
    stream: &mut tokio::net::TcpStream,
    within: Duration,
    waited_for: &str,
) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut answer = vec![0; 256];
    let n = tokio::time::timeout(within, stream.read(&mut answer))
        .await
        .expect(waited_for)
        .unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}
