//! `Notifier`: one notifier-service on its own runtime and thread, which a
//! test can stop gracefully, kill outright or ask whether it is ready.

use std::net::SocketAddr;
use std::time::Duration;

use notifier_service::config::Settings;
use notifier_service::startup::Application;
use todogenie_test_kit::poll;
use tokio_util::sync::CancellationToken;

/// A notifier-service running on its own runtime and thread, so a test can
/// stop it gracefully or kill it outright (every task dropped mid-flight).
pub struct Notifier {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    shutdown: CancellationToken,
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Notifier {
    pub async fn start(settings: Settings) -> Notifier {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime starts");
            let result = runtime.block_on(async move {
                let app = Application::build(settings)
                    .await
                    .expect("notifier-service must start: are PostgreSQL and RabbitMQ running?");
                let _ = ready_tx.send((app.grpc_addr(), app.http_addr()));
                tokio::select! {
                    result = app.run_until_stopped(token) => result,
                    _ = kill_rx => Ok(()),
                }
            });
            // A kill: whatever the runtime still runs is dropped, not finished.
            runtime.shutdown_background();
            result
        });
        let (grpc_addr, http_addr) = ready_rx.await.expect("notifier-service started");
        Notifier {
            grpc_addr,
            http_addr,
            shutdown,
            kill: Some(kill_tx),
            thread: Some(thread),
        }
    }

    /// SIGTERM: finish in-flight work and stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let thread = self.thread.take().expect("running");
        tokio::task::spawn_blocking(move || thread.join().expect("no panic"))
            .await
            .expect("joined")
    }

    /// SIGKILL: drop everything at once.
    pub async fn kill(mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        let thread = self.thread.take().expect("running");
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }

    pub async fn ready(&self, expect: u16) {
        let url = format!("http://{}/readyz", self.http_addr);
        poll(
            Duration::from_secs(15),
            &format!("/readyz {expect}"),
            || async { reqwest::get(&url).await.ok().map(|r| r.status().as_u16()) == Some(expect) },
        )
        .await;
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}
