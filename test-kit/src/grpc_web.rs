//! A gRPC-Web client as a browser library speaks it, over reqwest: frames
//! (a flag byte, a 4-byte length, the message) in binary or base64 text,
//! HTTP/1.1 or HTTP/2, with the trailers in a final frame.

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures::StreamExt;

/// How the request is encoded and carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `application/grpc-web+proto` over HTTP/1.1.
    Binary,
    /// `application/grpc-web-text` (base64) over HTTP/1.1.
    Text,
    /// Binary over HTTP/2 (prior knowledge, as a proxy would).
    Http2,
}

/// What came back: the messages, and the trailers' status and message.
#[derive(Debug, Default)]
pub struct Answer {
    pub messages: Vec<Vec<u8>>,
    pub status: Option<String>,
    pub message: Option<String>,
    pub headers: reqwest::header::HeaderMap,
}

pub fn frame(message: &impl prost::Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&body);
    framed
}

/// Splits complete frames off `buffer` into `answer`.
fn read_frames(buffer: &mut Vec<u8>, answer: &mut Answer) {
    while buffer.len() >= 5 {
        let len = u32::from_be_bytes(buffer[1..5].try_into().unwrap()) as usize;
        if buffer.len() < 5 + len {
            return;
        }
        let flag = buffer[0];
        let payload = buffer[5..5 + len].to_vec();
        buffer.drain(..5 + len);
        if flag & 0x80 == 0 {
            answer.messages.push(payload);
            continue;
        }
        for line in String::from_utf8_lossy(&payload).split("\r\n") {
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "grpc-status" => answer.status = Some(value.trim().to_owned()),
                    "grpc-message" => answer.message = Some(value.trim().to_owned()),
                    _ => {}
                }
            }
        }
    }
}

fn client(mode: Mode) -> reqwest::Client {
    let builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(20));
    match mode {
        Mode::Http2 => builder.http2_prior_knowledge(),
        _ => builder.http1_only(),
    }
    .build()
    .unwrap()
}

fn request(
    addr: SocketAddr,
    path: &str,
    token: &str,
    body: Vec<u8>,
    mode: Mode,
) -> reqwest::RequestBuilder {
    let (content_type, body) = match mode {
        Mode::Text => (
            "application/grpc-web-text",
            STANDARD.encode(body).into_bytes(),
        ),
        _ => ("application/grpc-web+proto", body),
    };
    client(mode)
        .post(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .header("accept", content_type)
        .header("x-grpc-web", "1")
        .header("x-user-agent", "grpc-web-javascript/0.1")
        .header("origin", crate::ALLOWED_ORIGIN)
        .header("authorization", format!("Bearer {token}"))
        .body(body)
}

/// One unary call; the whole answer.
pub async fn call(
    addr: SocketAddr,
    path: &str,
    token: &str,
    message: &impl prost::Message,
    mode: Mode,
) -> Answer {
    let response = request(addr, path, token, frame(message), mode)
        .send()
        .await
        .expect("a gRPC-Web answer");
    let mut answer = Answer {
        headers: response.headers().clone(),
        ..Answer::default()
    };
    let raw = response.bytes().await.expect("the answer's body").to_vec();
    let mut bytes = if mode == Mode::Text {
        // Segments may each be padded (one per frame): every 4-character
        // quantum decodes on its own.
        let chars: Vec<u8> = raw
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        chars
            .chunks(4)
            .flat_map(|quantum| STANDARD.decode(quantum).expect("base64"))
            .collect()
    } else {
        raw
    };
    // A trailers-only answer carries its status in the headers.
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    answer.status = header("grpc-status");
    answer.message = header("grpc-message");
    read_frames(&mut bytes, &mut answer);
    answer
}

/// A server-streaming call: its messages as they arrive, until `done`
/// says enough (or the stream ends).
pub async fn stream_until(
    addr: SocketAddr,
    path: &str,
    token: &str,
    message: &impl prost::Message,
    mut done: impl FnMut(&[Vec<u8>]) -> bool,
) -> Vec<Vec<u8>> {
    let response = request(addr, path, token, frame(message), Mode::Binary)
        .send()
        .await
        .expect("a gRPC-Web stream");
    assert!(response.status().is_success(), "{}", response.status());
    let mut body = response.bytes_stream();
    let mut buffer = Vec::new();
    let mut answer = Answer::default();
    while let Some(chunk) = body.next().await {
        buffer.extend_from_slice(&chunk.expect("a chunk"));
        read_frames(&mut buffer, &mut answer);
        if done(&answer.messages) {
            break;
        }
    }
    answer.messages
}
