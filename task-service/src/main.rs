//! `task-service`: serve (the default), or `token` to print a signed JWT.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use task_service::config;
use task_service::startup::Application;

fn main() -> ExitCode {
    let cli = config::load();
    todogenie_common::process::main("task-service", cli, |s| &s.shared, serve)
}

async fn serve(settings: config::Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    Application::build(settings)
        .await?
        .run_until_stopped(shutdown)
        .await
}
