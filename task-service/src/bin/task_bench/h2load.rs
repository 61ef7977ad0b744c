//! An outside client's open loop: h2load's per-request log, read as
//! pgbench's is (scripts/bench-create-h2load.sh's paced run).

use std::time::Duration;

use anyhow::Context;

/// (start since the first request, latency) of every successful request in
/// an `h2load --log-file` log: `start_epoch_us status latency_us` per line.
/// h2load counts from when it sent the request; with --rps and streams to
/// spare (the script allows 256 in flight) that is when it was due.
pub fn read_log(path: &std::path::Path) -> anyhow::Result<Vec<(Duration, Duration)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read the h2load log {}", path.display()))?;
    let mut starts_and_latencies = Vec::new();
    let mut failed = 0usize;
    for line in text.lines() {
        let fields: Vec<i64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("an h2load log line: {line}"))?;
        let [start_us, status, latency_us, ..] = fields[..] else {
            anyhow::bail!("an h2load log line with too few fields: {line}");
        };
        if status != 200 {
            failed += 1;
            continue;
        }
        let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        starts_and_latencies.push((micros(start_us), micros(latency_us)));
    }
    anyhow::ensure!(failed == 0, "h2load logged {failed} failed requests");
    let first = starts_and_latencies
        .iter()
        .map(|(start, _)| *start)
        .min()
        .context("h2load logged no request")?;
    Ok(starts_and_latencies
        .into_iter()
        .map(|(start, latency)| (start - first, latency))
        .collect())
}
