//! Request bodies held at once are bounded over the whole port, not only
//! per connection: uploads that stall part-way cannot take the memory.

use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt as _};
use todogenie_common::request_budget::MAX_REQUEST_BYTES_IN_FLIGHT;
use todogenie_common::serve::MAX_REQUEST_BYTES;
use todogenie_proto::v1 as pb;

use crate::helpers::{create, spawn_app, titled};

/// An anonymous client opens streams on one connection (health checks need
/// no token) and on each sends most of a message of the largest size, then
/// waits. Once they hold the port's budget the next is refused at once with
/// RESOURCE_EXHAUSTED naming the limit (before, every one was buffered until
/// the RPC timeout: 512 MiB a connection); when the client goes, the budget
/// is whole again and a task is created.
#[tokio::test]
async fn stalled_uploads_hold_at_most_the_ports_budget() {
    let app = spawn_app().await;
    let tcp = tokio::net::TcpStream::connect(app.grpc_addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();

    // Each stream declares a message of the largest size and sends all but
    // 100 bytes of it; enough streams to pass the budget by five.
    let declared = MAX_REQUEST_BYTES - 5;
    let sent = declared - 100;
    let streams = MAX_REQUEST_BYTES_IN_FLIGHT / sent + 5;
    let mut body = vec![0u8; 5 + sent];
    body[1..5].copy_from_slice(&(declared as u32).to_be_bytes());
    let body = tonic::codegen::Bytes::from(body);
    let mut uploads = Vec::new();
    let mut answers = FuturesUnordered::new();
    for _ in 0..streams {
        let request = http::Request::post(format!(
            "http://{}/grpc.health.v1.Health/Check",
            app.grpc_addr
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
        client = client.ready().await.unwrap();
        let (answer, mut upload) = client.send_request(request, false).unwrap();
        upload.send_data(body.clone(), false).unwrap();
        uploads.push(upload);
        answers.push(answer);
    }

    // The first answer is a refusal, long before the RPC timeout (10 s).
    let first = tokio::time::timeout(Duration::from_secs(8), answers.next())
        .await
        .expect("no stream was refused: every upload was held")
        .unwrap()
        .unwrap();
    let status = |name: &str| {
        first
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(status("grpc-status"), "8", "{:?}", first.headers());
    assert!(
        status("grpc-message").starts_with("MAX_REQUEST_BYTES_IN_FLIGHT"),
        "{:?}",
        first.headers()
    );

    // The client goes: what its streams held is given back.
    drop((uploads, answers, client));
    driver.abort();
    let mut alice = app.user("alice").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let task = pb::Task {
            description: "é".repeat(4_000),
            ..titled("after the uploads")
        };
        match alice.create_task(create(task)).await {
            Ok(_) => break,
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                assert!(tokio::time::Instant::now() < deadline, "{status:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
}
