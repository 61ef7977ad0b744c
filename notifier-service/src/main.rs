//! `notifier-service`: serve (the default), or `token` to print a signed JWT.

use std::process::ExitCode;

use notifier_service::config::{Cli, Command};
use notifier_service::startup::Application;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::load();
    if let Some(Command::Token(args)) = &cli.command {
        let code =
            todogenie_common::cli::print_token("notifier-service", &cli.settings.jwt_secret, args);
        return ExitCode::from(code);
    }
    if let Err(line) = cli.settings.check() {
        eprintln!("notifier-service: {line}");
        return ExitCode::from(2);
    }

    notifier_service::telemetry::init(&cli.settings.log_filter, &cli.settings.log_format);
    let runtime = todogenie_common::process::runtime();
    match runtime.block_on(serve(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "notifier-service failed");
            eprintln!("notifier-service: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    let app = Application::build(cli.settings).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(todogenie_common::process::cancel_on_signal(
        shutdown.clone(),
    ));
    app.run_until_stopped(shutdown).await
}
