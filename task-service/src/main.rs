//! `task-service`: serve (the default), or `token` to print a signed JWT.

use std::process::ExitCode;

use task_service::config;
use task_service::startup::Application;

fn main() -> ExitCode {
    let cli = config::load();
    let shared = cli.settings.shared.clone();
    todogenie_common::process::main(
        "task-service",
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
