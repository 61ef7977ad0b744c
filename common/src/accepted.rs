//! A connection accepted on one of our ports (gRPC or HTTP): it holds its
//! place under the port's connection limit until it is dropped, and its
//! client must send the first bytes, the ones hyper reads to tell HTTP/1
//! from HTTP/2, within a deadline.
//!
//! hyper (`hyper_util`'s auto builder) waits for them with no deadline of
//! its own: its HTTP/1 header timeout starts only once it has chosen the
//! version, and HTTP/2's keep-alive pings once the preface is in. Measured
//! on the gRPC port before this wrapper: a socket that sent nothing was
//! still open after 60 s, and one that sent `PRI` and stopped likewise, so
//! silent sockets could hold every place the port has.

use std::future::Future as _;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;
use tonic::transport::server::Connected;

/// HTTP/2's connection preface: hyper tells the versions apart by it.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An accepted connection, holding its place until it is dropped. Its reads
/// fail with `TimedOut` if the client has not told HTTP/1 from HTTP/2 (sent
/// the whole preface, or a byte that departs from it) within the deadline;
/// afterwards it is the stream itself, and a client may be quiet for as
/// long as the protocol's own timeouts allow.
pub struct Accepted<S> {
    stream: S,
    _place: OwnedSemaphorePermit,
    /// Until the version is told: the deadline, and how much of the
    /// preface the client has sent so far.
    pending: Option<(Pin<Box<Sleep>>, usize)>,
}

impl<S> Accepted<S> {
    /// `stream` holds `place` until dropped; its first bytes are due `within`.
    pub fn new(stream: S, place: OwnedSemaphorePermit, within: Duration) -> Self {
        Self {
            stream,
            _place: place,
            pending: Some((Box::pin(tokio::time::sleep(within)), 0)),
        }
    }

    /// Whether the client has told the version: the deadline is over.
    pub fn told(&self) -> bool {
        self.pending.is_none()
    }
}

impl<S: Connected> Connected for Accepted<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Accepted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        let Some((deadline, seen)) = this.pending.as_mut() else {
            return read;
        };
        match read {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                let rest = &H2_PREFACE[*seen..];
                let common = new.len().min(rest.len());
                if new.is_empty() {
                    // End of stream: hyper closes the connection itself.
                } else if new[..common] != rest[..common] || new.len() >= rest.len() {
                    // HTTP/1 (or not HTTP at all), or the whole preface.
                    this.pending = None;
                } else {
                    *seen += new.len();
                }
            }
            // hyper then drops the connection, and with it its place.
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the client did not send its first bytes within the deadline",
                )));
            }
            _ => {}
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Accepted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    const WITHIN: Duration = Duration::from_millis(300);

    /// A client end and the server's end wrapped, over an in-memory pipe.
    fn pair() -> (tokio::io::DuplexStream, Accepted<tokio::io::DuplexStream>) {
        let (client, server) = tokio::io::duplex(1024);
        let place = std::sync::Arc::new(tokio::sync::Semaphore::new(1))
            .try_acquire_owned()
            .unwrap();
        (client, Accepted::new(server, place, WITHIN))
    }

    /// Reads until the read fails or `WITHIN * 4` passes; the error, if any.
    async fn read_all(server: &mut Accepted<tokio::io::DuplexStream>) -> Option<std::io::Error> {
        let mut chunk = [0u8; 64];
        loop {
            match tokio::time::timeout(WITHIN * 4, server.read(&mut chunk)).await {
                Err(_) => return None,
                Ok(Err(e)) => return Some(e),
                Ok(Ok(0)) => return None,
                Ok(Ok(_)) => {}
            }
        }
    }

    #[tokio::test]
    async fn a_client_that_stops_before_telling_the_version_times_out() {
        for sent in [&b""[..], b"P", b"PRI * HTTP/2.0\r\n", &H2_PREFACE[..23]] {
            let (mut client, mut server) = pair();
            client.write_all(sent).await.unwrap();
            let error = read_all(&mut server).await;
            assert_eq!(
                error.map(|e| e.kind()),
                Some(std::io::ErrorKind::TimedOut),
                "after {sent:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_client_that_told_the_version_may_then_be_quiet() {
        for sent in [
            H2_PREFACE,
            b"G",
            b"POST /todogenie.task.v1.TaskService/GetTask HTTP/1.1\r\n",
            b"PRI * HTTP/1.1",
        ] {
            let (mut client, mut server) = pair();
            // Byte by byte, so that the preface is matched across reads.
            for byte in sent {
                client.write_all(&[*byte]).await.unwrap();
                let mut one = [0u8; 1];
                server.read_exact(&mut one).await.unwrap();
                assert_eq!(one[0], *byte);
            }
            assert!(server.told(), "after {sent:?}");
            assert!(
                read_all(&mut server).await.is_none(),
                "cut off after {sent:?}"
            );
            client.write_all(b"x").await.unwrap();
            let mut one = [0u8; 1];
            server.read_exact(&mut one).await.unwrap();
            assert_eq!(&one, b"x");
        }
    }

    #[tokio::test]
    async fn the_preface_in_one_read_with_more_behind_it_tells_the_version() {
        let (mut client, mut server) = pair();
        let mut sent = H2_PREFACE.to_vec();
        sent.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        client.write_all(&sent).await.unwrap();
        let mut got = vec![0u8; sent.len()];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, sent);
        assert!(server.told());
    }
}
