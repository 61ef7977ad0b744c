//! The HTTP listener both services serve `/metrics`, `/healthz`, `/readyz`
//! (and the notifier its public webhooks) on, with the bounds a public port
//! needs: at most [`MAX_CONNECTIONS`] open at once (the next waits in the
//! kernel's backlog), request headers within [`HEADER_TIMEOUT`] of the
//! connection's opening or it is dropped (one that sends nothing too), a
//! connection that sends nothing for [`IDLE_TIMEOUT`] closed (an HTTP/2 one
//! between requests), and a graceful stop. Bodies are bounded where they
//! are read (the webhooks' `read_body`, which also bounds them together).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::CancellationToken;

use crate::accepted::Accepted;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// A client has this long to send its request headers (slowloris).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection whose client sent nothing for this long is closed. hyper
/// keeps an HTTP/2 connection open for as long as the client likes
/// (measured: still open after 5 s with every timeout at 0.3 s; an idle
/// HTTP/1.1 one is closed by the header timeout), so 1,024 idle clients
/// would fill the port. Far longer than any request of ours takes to
/// answer (the webhooks read their bodies within 10 s and write within the
/// pool's timeouts).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves `router` on `listener` until `shutdown`, then lets the requests
/// in flight finish (the caller's deadline bounds that).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_with(listener, router, shutdown, HEADER_TIMEOUT, IDLE_TIMEOUT).await
}

async fn serve_with(
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
    header_timeout: Duration,
    idle_timeout: Duration,
) -> anyhow::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let room = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = room.clone().acquire_owned() => permit.context("the connection limit closed")?,
        };
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // A client that is too slow or goes away ends its own connection
        // (`Accepted` bounds the first bytes, hyper's header timeout the
        // rest of the headers); hyper drops one still telling its version
        // when the server stops.
        let stream = Accepted::new(stream, permit, header_timeout);
        // A read that waits longer fails, and hyper closes the connection.
        let mut stream = TimeoutStream::new(stream);
        stream.set_read_timeout(Some(idle_timeout));
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(Box::pin(stream)),
                TowerToHyperService::new(router.clone()),
            )
            .into_owned();
        tokio::spawn(graceful.watch(connection));
    }
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accepted::H2_PREFACE;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    /// Short, so that the tests wait little; what they check is that the
    /// connection is dropped at all.
    const TIMEOUT: Duration = Duration::from_millis(300);
    /// Far past `TIMEOUT`: a connection still open then was kept.
    const KEPT: Duration = Duration::from_secs(5);

    async fn start() -> (SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let shutdown = CancellationToken::new();
        tokio::spawn(serve_with(
            listener,
            router,
            shutdown.clone(),
            TIMEOUT,
            TIMEOUT,
        ));
        (addr, shutdown)
    }

    /// A connection that opened HTTP/2 with prior knowledge: the preface
    /// and an empty SETTINGS frame.
    async fn h2_connect(addr: SocketAddr) -> TcpStream {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(H2_PREFACE).await.unwrap();
        stream
            .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
            .await
            .unwrap();
        stream
    }

    /// Everything the server sends until it closes (or `KEPT` passes).
    async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
        let mut answer = Vec::new();
        tokio::time::timeout(KEPT, stream.read_to_end(&mut answer))
            .await
            .expect("the server kept the connection open")
            .unwrap();
        answer
    }

    #[tokio::test]
    async fn connections_that_stall_before_their_headers_are_dropped() {
        let (addr, shutdown) = start().await;
        for sent in [
            &b""[..],
            b"P",
            b"PRI * HTTP/2.0\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        ] {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(sent).await.unwrap();
            let answer = read_until_closed(&mut stream).await;
            assert!(
                answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
                "after {sent:?}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_stop_does_not_wait_for_a_client_still_telling_its_version() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let shutdown = CancellationToken::new();
        // Deadlines far past the wait below: only the stop may end these.
        let server = tokio::spawn(serve_with(
            listener,
            router,
            shutdown.clone(),
            KEPT * 10,
            KEPT * 10,
        ));
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"PRI * HTTP").await.unwrap();
        // Both taken before the stop (a request on a third proves the loop
        // has gone past them).
        let mut third = TcpStream::connect(addr).await.unwrap();
        third
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        read_until_closed(&mut third).await;
        shutdown.cancel();
        tokio::time::timeout(KEPT, server)
            .await
            .expect("the stop waited for clients that never spoke")
            .unwrap()
            .unwrap();
        read_until_closed(&mut silent).await;
        read_until_closed(&mut half).await;
    }

    #[tokio::test]
    async fn connections_idle_after_a_request_or_the_preface_are_closed() {
        let (addr, shutdown) = start().await;
        // HTTP/1.1 keep-alive: one request answered, then nothing.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = String::from_utf8(read_until_closed(&mut stream).await).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // HTTP/2: the preface and SETTINGS, then nothing.
        let mut stream = h2_connect(addr).await;
        read_until_closed(&mut stream).await;
        shutdown.cancel();
    }

    #[tokio::test]
    async fn the_first_bytes_still_reach_http1_and_http2() {
        let (addr, shutdown) = start().await;
        // HTTP/1.1, the request line split where the version is decided.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GE").await.unwrap();
        stream.flush().await.unwrap();
        stream
            .write_all(b"T /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = String::from_utf8(read_until_closed(&mut stream).await).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");

        // HTTP/2 with prior knowledge: the preface and an empty SETTINGS
        // frame get the server's own SETTINGS frame back.
        let mut stream = h2_connect(addr).await;
        let mut frame = [0u8; 9];
        tokio::time::timeout(KEPT, stream.read_exact(&mut frame))
            .await
            .expect("no answer to HTTP/2's preface")
            .unwrap();
        assert_eq!(frame[3], 4, "not a SETTINGS frame: {frame:?}");
        shutdown.cancel();
    }
}
