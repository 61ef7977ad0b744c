//! A TCP proxy in front of RabbitMQ that a test can freeze: its connections
//! stay open but no byte passes either way from then on, as with a broker
//! that hangs or a network that drops packets without a reset. Only a
//! timeout of ours ends a wait on it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Where the proxy forwards: the test RabbitMQ (`crate::AMQP_URL`).
const BROKER: &str = "127.0.0.1:5672";

pub struct FreezableProxy {
    addr: SocketAddr,
    frozen: Arc<AtomicBool>,
    /// Dropping it (with the proxy) closes every connection through it.
    accepting: tokio::task::JoinHandle<()>,
}

impl FreezableProxy {
    pub async fn start() -> FreezableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let accepting = tokio::spawn(accept(listener, frozen.clone()));
        FreezableProxy {
            addr,
            frozen,
            accepting,
        }
    }

    /// An AMQP URL that goes through the proxy.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// From now on nothing passes, on open connections and new ones.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

impl Drop for FreezableProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn accept(listener: TcpListener, frozen: Arc<AtomicBool>) {
    // Owned here, so aborting this task ends every pipe with it.
    let mut pipes = JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        let Ok(broker) = TcpStream::connect(BROKER).await else {
            continue;
        };
        let (client_read, client_write) = client.into_split();
        let (broker_read, broker_write) = broker.into_split();
        pipes.spawn(pipe(client_read, broker_write, frozen.clone()));
        pipes.spawn(pipe(broker_read, client_write, frozen.clone()));
    }
}

async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, frozen: Arc<AtomicBool>) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            // Hold the connection open and pass nothing, ever.
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
