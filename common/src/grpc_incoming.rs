//! The gRPC port's connections, counted: at most [`MAX_GRPC_CONNECTIONS`]
//! open at once; the next waits in the kernel's backlog until one closes.
//! Without a bound, clients could take every file descriptor the process
//! may open, and its database pool and HTTP port (the webhooks) with them.
//! A connection whose client has not sent its first bytes within
//! [`FIRST_BYTES_WITHIN`] of being taken is closed (see `accepted`), so
//! silent sockets cannot hold those places for ever.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use tokio::sync::Semaphore;

use crate::accepted::Accepted;

/// gRPC connections served at once. Each client keeps one and multiplexes
/// its calls on it (512 streams each), so this is clients, not calls.
pub const MAX_GRPC_CONNECTIONS: usize = 4096;

/// A new connection's client has this long to send its first bytes (the
/// HTTP/2 preface, or a gRPC-Web request line). Only the first bytes have
/// a deadline: afterwards HTTP/2's keep-alive pings (30 s, 10 s to answer)
/// close a dead peer, hyper's header timeout a slow HTTP/1 one, and a
/// client may wait on WatchTasks for as long as it likes.
pub const FIRST_BYTES_WITHIN: Duration = Duration::from_secs(10);

/// Takes a connection from `incoming` only while fewer than `max` taken
/// ones are open; each must send its first bytes within `first_bytes_within`.
pub fn limited<I, S, E>(
    incoming: I,
    max: usize,
    first_bytes_within: Duration,
) -> impl Stream<Item = Result<Accepted<S>, E>>
where
    I: Stream<Item = Result<S, E>> + Unpin,
{
    let room = Arc::new(Semaphore::new(max));
    futures::stream::unfold((incoming, room), move |(mut incoming, room)| async move {
        // The semaphore is never closed: `ok()?` only ends the stream if it were.
        let place = room.clone().acquire_owned().await.ok()?;
        let next = incoming.next().await?;
        let accepted = next.map(|stream| Accepted::new(stream, place, first_bytes_within));
        Some((accepted, (incoming, room)))
    })
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

        // A client that told the version in time (`G`: HTTP/1) may then be
        // quiet past the deadline (the unit tests in `accepted` have the rest).
        talking.write_all(b"G").await.unwrap();
        taken.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"G");
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
