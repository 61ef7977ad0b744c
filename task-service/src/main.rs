//! `task-service`: serve (the default), or `token` to print a signed JWT.

use std::process::ExitCode;

use task_service::auth::JwtKeys;
use task_service::config::{Cli, Command};
use task_service::domain::UserId;
use task_service::startup::Application;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::load();
    if let Some(Command::Token(args)) = &cli.command {
        let sub = match UserId::parse(&args.sub) {
            Ok(sub) => sub,
            Err(e) => {
                eprintln!("task-service: --sub {e}");
                return ExitCode::from(2);
            }
        };
        println!(
            "{}",
            JwtKeys::new(&cli.settings.jwt_secret).issue(&sub, args.role, args.ttl)
        );
        return ExitCode::SUCCESS;
    }

    task_service::telemetry::init(&cli.settings.log_filter, &cli.settings.log_format);
    // As many workers as the CPU quota allows (tokio's default counts host cores).
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    match runtime.block_on(serve(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "task-service failed");
            eprintln!("task-service: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    let app = Application::build(cli.settings).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    app.run_until_stopped(shutdown).await
}

/// SIGTERM or Ctrl-C starts a graceful shutdown.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
