//! The gRPC port's connections, counted: at most [`MAX_GRPC_CONNECTIONS`]
//! open at once; the next waits in the kernel's backlog until one closes.
//! Without a bound, clients could take every file descriptor the process
//! may open, and its database pool and HTTP port (the webhooks) with them.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::Connected;

/// gRPC connections served at once. Each client keeps one and multiplexes
/// its calls on it (512 streams each), so this is clients, not calls.
pub const MAX_GRPC_CONNECTIONS: usize = 4096;

/// An accepted connection that holds its place until it is dropped.
pub struct Counted<S> {
    stream: S,
    _place: OwnedSemaphorePermit,
}

/// Takes a connection from `incoming` only while fewer than `max` taken
/// ones are open.
pub fn limited<I, S, E>(incoming: I, max: usize) -> impl Stream<Item = Result<Counted<S>, E>>
where
    I: Stream<Item = Result<S, E>> + Unpin,
{
    let room = Arc::new(Semaphore::new(max));
    futures::stream::unfold((incoming, room), |(mut incoming, room)| async move {
        // The semaphore is never closed: `ok()?` only ends the stream if it were.
        let place = room.clone().acquire_owned().await.ok()?;
        let next = incoming.next().await?;
        let counted = next.map(|stream| Counted {
            stream,
            _place: place,
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
        Pin::new(&mut self.stream).poll_read(cx, buf)
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
        let mut incoming = Box::pin(limited(TcpIncoming::from(listener), 2));
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
}
