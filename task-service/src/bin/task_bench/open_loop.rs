//! The open loop (`--paced`): CreateTask sent on a fixed schedule whatever
//! the answers, printed beside pgbench's own open loop at the same rate.

use std::time::Duration;

use crate::stats::Stats;
use crate::Args;

/// Open loops run a second longer and drop the requests scheduled in that
/// first second: pgbench's schedule starts while it connects, which put 1 %
/// of its requests over 10 ms before it sent any.
pub const WARM_UP: Duration = Duration::from_secs(1);
/// Where an open loop's slow requests fell is counted past this latency.
const SLOW: Duration = Duration::from_millis(10);

/// pgbench's open loop at `rate` on CreateTask's statement (its latency tail
/// is the machine's: fsyncs, checkpoints, scheduling), printed: the baseline
/// of an open loop of ours at the same rate in the same run.
pub async fn pgbench(args: &Args, database_url: &str, rate: f64) -> anyhow::Result<Stats> {
    let duration = Duration::from_secs(args.seconds) + WARM_UP;
    let timeline =
        crate::pgbench::create_task_paced(database_url, args.clients, args.seconds + 1, rate)
            .await?;
    let baseline = Stats::from_timeline(timeline, duration).after(WARM_UP);
    println!(
        "{}\n{}",
        baseline.line(&format!("pgbench paced at {rate:.0}/s")),
        baseline.slow_windows(SLOW)
    );
    Ok(baseline)
}

/// Prints an open loop of ours beside its baseline.
pub fn print(ours: &Stats, how: &str, baseline: &Stats) {
    println!(
        "{}\n{}\n  p99 ours / pgbench's = {:.2}",
        ours.line(&format!("CreateTask paced at {how}")),
        ours.slow_windows(SLOW),
        ours.percentile(99.0).as_secs_f64() / baseline.percentile(99.0).as_secs_f64()
    );
}

/// --pgbench-only --paced-rate: pgbench's open loop on --database as it is,
/// and beside it an outside client's at the same rate from its log
/// (--paced-log).
pub async fn pgbench_beside_log(args: &Args, database_url: &str, rate: f64) -> anyhow::Result<()> {
    let baseline = pgbench(args, database_url, rate).await?;
    if let Some(log) = &args.paced_log {
        let duration = Duration::from_secs(args.seconds) + WARM_UP;
        let outside = Stats::from_timeline(crate::h2load::read_log(log)?, duration).after(WARM_UP);
        print(&outside, &format!("{rate:.0}/s (h2load)"), &baseline);
    }
    Ok(())
}
