//! `task-service`: serve (the default), or `token` to print a signed JWT.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use task_service::config;
use task_service::startup::Application;

/// mimalloc rather than glibc's allocator: glibc's malloc and free were 13 %
/// of the process's CPU under CreateTask load (`perf`), and with mimalloc
/// task-bench's open loop at 1,500/s took 361–391 µs of CPU per CreateTask
/// against 404–422 µs (three runs each, alternating, 2026-12-01).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
