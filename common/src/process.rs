//! Running a service process: `main` for both binaries (the `token`
//! subcommand, logs, a runtime sized to the CPU quota, a graceful shutdown
//! started by SIGTERM or Ctrl-C, one line on failure).

use std::future::Future;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};
use crate::settings::SharedSettings;

/// The whole of a service's `main`: prints a token for `token`, or serves
/// with `serve` until a signal, and reports how it ended.
pub fn main<S, F, Fut>(
    program: &'static str,
    cli: Cli<S>,
    shared: fn(&S) -> &SharedSettings,
    serve: F,
) -> ExitCode
where
    F: FnOnce(S, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let common = shared(&cli.settings);
    if let Some(Command::Token(args)) = &cli.command {
        return ExitCode::from(crate::cli::print_token(program, &common.jwt_secret, args));
    }
    let runtime = runtime();
    let telemetry = {
        let _entered = runtime.enter();
        crate::telemetry::init(&common.log_filter, &common.log_format, program)
    };
    raise_open_files();
    let shutdown = CancellationToken::new();
    let result = runtime.block_on(async {
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        serve(cli.settings, shutdown).await
    });
    // The last spans leave before the runtime their client runs on.
    {
        let _entered = runtime.enter();
        drop(telemetry);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "{program} failed");
            eprintln!("{program}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Open files (sockets too) the connection limits allow, with room for the
/// database pools, the broker and the logs.
const OPEN_FILES_NEEDED: u64 =
    (crate::grpc_incoming::MAX_GRPC_CONNECTIONS + crate::http_server::MAX_CONNECTIONS) as u64 + 256;

/// Raises the open-file limit to what the system allows (a service started
/// by systemd gets 1,024 of 524,288 by default: fewer than the two ports'
/// connection limits, so clients could have taken the descriptors the
/// database pool needs); warns when even that is fewer than the limits.
fn raise_open_files() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < OPEN_FILES_NEEDED => tracing::warn!(
            limit,
            needed = OPEN_FILES_NEEDED,
            "the open-file limit is below what the connection limits allow; raise it (ulimit -n)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

/// A multi-threaded runtime with as many workers as the CPU quota allows
/// (`#[tokio::main]` counts the host's cores, whatever the container's quota).
pub fn runtime() -> tokio::runtime::Runtime {
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// Cancels `shutdown` on SIGTERM or Ctrl-C.
pub async fn cancel_on_signal(shutdown: CancellationToken) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_one() {
        let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
        // Lowered first, as systemd would start us.
        rlimit::Resource::NOFILE.set(256.min(hard), hard).unwrap();
        raise_open_files();
        let (soft, _) = rlimit::Resource::NOFILE.get().unwrap();
        assert_eq!(soft, hard);
    }
}
