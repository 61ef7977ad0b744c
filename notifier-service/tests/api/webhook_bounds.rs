//! What the webhook port bounds: bodies too large or too slow, bodies
//! stalled on many connections at once (the port's budget), and provider
//! ids too long to record; a normal webhook is answered meanwhile.

use std::time::Duration;

use serde_json::json;

use crate::helpers::spawn_pair;

const PHONE: &str = "+14155550123";
const DIGITS: &str = "14155550123";

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
