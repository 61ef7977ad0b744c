//! `notifier-service`: serve (the default), or `token` to print a signed JWT.

use std::process::ExitCode;

use notifier_service::config::{self, Command};
use notifier_service::startup::Application;

fn main() -> ExitCode {
    let cli = config::load();
    let serving = !matches!(cli.command, Some(Command::Token(_)));
    if let (true, Err(line)) = (serving, cli.settings.check()) {
        eprintln!("notifier-service: {line}");
        return ExitCode::from(2);
    }
    let shared = cli.settings.shared.clone();
    todogenie_common::process::main(
        "notifier-service",
        &shared,
        cli.command.as_ref(),
        |shutdown| async move {
            Application::build(cli.settings)
                .await?
                .run_until_stopped(shutdown)
                .await
        },
    )
}
