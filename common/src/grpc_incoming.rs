//! The gRPC port's connections, counted: at most [`MAX_GRPC_CONNECTIONS`]
//! open at once; the next waits in the kernel's backlog until one closes.
//! Without a bound, clients could take every file descriptor the process
//! may open, and its database pool and HTTP port (the webhooks) with them.
//! A connection that sends nothing within [`FIRST_BYTES_WITHIN`] of being
//! taken is closed, so silent sockets cannot hold those places for ever.

use std::future::Future as _;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tonic::transport::server::Connected;

/// gRPC connections served at once. Each client keeps one and multiplexes
/// its calls on it (512 streams each), so this is clients, not calls.
pub const MAX_GRPC_CONNECTIONS: usize = 4096;

/// A new connection's client has this long to send its first bytes (the
/// HTTP/2 preface, or a gRPC-Web request line). hyper waits for them with
/// no deadline of its own while it tells HTTP/1 from HTTP/2: measured, a
/// connection to the gRPC port that sent nothing was still open after 60 s,
/// so 4,096 silent sockets would have shut every client out. Only the first
/// bytes have a deadline: afterwards HTTP/2's keep-alive pings (30 s, 10 s
/// to answer) close a dead peer, hyper's header timeout a slow HTTP/1 one,
/// and a client may wait on WatchTasks for as long as it likes.
pub const FIRST_BYTES_WITHIN: Duration = Duration::from_secs(10);

/// An accepted connection that holds its place until it is dropped.
pub struct Counted<S> {
    stream: S,
    _place: OwnedSemaphorePermit,
    /// Until the first byte arrives: when the client must have sent it.
    first_bytes: Option<Pin<Box<Sleep>>>,
}

/// Takes a connection from `incoming` only while fewer than `max` taken
/// ones are open; each must send its first bytes within `first_bytes_within`.
pub fn limited<I, S, E>(
    incoming: I,
    max: usize,
    first_bytes_within: Duration,
) -> impl Stream<Item = Result<Counted<S>, E>>
where
    I: Stream<Item = Result<S, E>> + Unpin,
{
    let room = Arc::new(Semaphore::new(max));
    futures::stream::unfold((incoming, room), move |(mut incoming, room)| async move {
        // The semaphore is never closed: `ok()?` only ends the stream if it were.
        let place = room.clone().acquire_owned().await.ok()?;
        let next = incoming.next().await?;
        let counted = next.map(|stream| Counted {
            stream,
            _place: place,
            first_bytes: Some(Box::pin(tokio::time::sleep(first_bytes_within))),
        });
        Some((counted, (incoming, room)))
    })
}

impl<S: Connected> Connected for Counted<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Some(deadline) = this.first_bytes.as_mut() {
            match read {
                Poll::Ready(Ok(())) if buf.filled().len() > before => this.first_bytes = None,
                // hyper then drops the connection, and with it the place.
                Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client sent nothing within the first-bytes deadline",
                    )));
                }
                _ => {}
            }
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
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
    use std::time::Duration;
    use tokio::net::{TcpListener, TcpStream};
    use tonic::transport::server::TcpIncoming;

    #[tokio::test]
    async fn a_connection_past_the_limit_waits_until_one_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = Box::pin(limited(TcpIncoming::from(listener), 2, FIRST_BYTES_WITHIN));
        // All three connect (the kernel's backlog takes them)...
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        let first = incoming.next().await.unwrap().unwrap();
        let _second = incoming.next().await.unwrap().unwrap();
        // ...but the third is not taken while two are open,
        let waited = tokio::time::timeout(Duration::from_millis(300), incoming.next()).await;
        assert!(waited.is_err(), "a third connection was taken");
        // and is once one of them closes.
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), incoming.next())
            .await
            .expect("the third connection was not taken after one closed");
        assert!(third.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_connection_that_sends_nothing_is_closed_and_frees_its_place() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let within = Duration::from_millis(300);
        let mut incoming = Box::pin(limited(TcpIncoming::from(listener), 1, within));

        // A silent client: the read fails once the deadline passes...
        let _silent = TcpStream::connect(addr).await.unwrap();
        let mut taken = incoming.next().await.unwrap().unwrap();
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), taken.read(&mut byte))
            .await
            .expect("a silent connection's read outlived its deadline");
        assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        // ...and dropping it (as hyper does) lets the next client in.
        let mut talking = TcpStream::connect(addr).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(200), incoming.next()).await;
        assert!(
            waited.is_err(),
            "taken while the silent one held the only place"
        );
        drop(taken);
        let mut taken = tokio::time::timeout(Duration::from_secs(5), incoming.next())
            .await
            .expect("the place was not freed")
            .unwrap()
            .unwrap();

        // A client that spoke in time may then be quiet past the deadline.
        talking.write_all(b"P").await.unwrap();
        taken.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"P");
        let quiet = tokio::time::timeout(within * 3, taken.read(&mut byte)).await;
        assert!(
            quiet.is_err(),
            "a connection that spoke in time was cut off"
        );
        talking.write_all(b"R").await.unwrap();
        taken.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"R");
    }
}
