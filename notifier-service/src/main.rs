//! `notifier-service`: serve (the default), or `token` to print a signed JWT.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use notifier_service::config::{self, Command};
use notifier_service::startup::Application;

fn main() -> ExitCode {
    let cli = config::load();
    let serving = !matches!(cli.command, Some(Command::Token(_)));
    if let (true, Err(line)) = (serving, cli.settings.check()) {
        eprintln!("notifier-service: {line}");
        return ExitCode::from(2);
    }
    todogenie_common::process::main("notifier-service", cli, |s| &s.shared, serve)
}

async fn serve(settings: config::Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    Application::build(settings)
        .await?
        .run_until_stopped(shutdown)
        .await
}
