//! One run's latencies, throughput and CPU, and how `task-bench` prints
//! them: percentiles, open-loop windows of slow requests.

use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Stats {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) elapsed: Duration,
    /// CPU time this process (server and load generator) used meanwhile.
    pub(crate) cpu: Duration,
    pub(crate) errors: usize,
    /// Ids of created tasks (CreateTask only).
    pub ids: Vec<(String, String)>,
    /// Open loop only: each request's scheduled time since the run began,
    /// with its latency (where in the run the slow ones were).
    pub(crate) timeline: Vec<(Duration, Duration)>,
}

/// A timeline's latencies, fastest first (what the percentiles read).
fn sorted_latencies(timeline: &[(Duration, Duration)]) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = timeline.iter().map(|(_, latency)| *latency).collect();
    latencies.sort();
    latencies
}

impl Stats {
    /// Closes a run that began at `started` with `cpu_before` spent.
    pub(crate) fn finish(&mut self, started: Instant, cpu_before: Duration) {
        self.elapsed = started.elapsed();
        self.cpu = process_cpu().saturating_sub(cpu_before);
        self.latencies.sort();
    }

    /// A run measured elsewhere (pgbench's log): `timeline` as in `--paced`.
    pub fn from_timeline(timeline: Vec<(Duration, Duration)>, elapsed: Duration) -> Self {
        Self {
            latencies: sorted_latencies(&timeline),
            elapsed,
            timeline,
            ..Self::default()
        }
    }

    /// The run without the requests scheduled in its first `warm_up`
    /// (connections opening, pgbench's schedule starting before they are),
    /// which both an open loop and its baseline drop alike.
    /// (The CPU is not measured per request: it is scaled by the share of
    /// requests kept.)
    pub fn after(mut self, warm_up: Duration) -> Self {
        let all = self.timeline.len().max(1) as u32;
        self.timeline.retain(|(scheduled, _)| *scheduled >= warm_up);
        self.cpu = self.cpu * self.timeline.len() as u32 / all;
        self.latencies = sorted_latencies(&self.timeline);
        self.elapsed = self.elapsed.saturating_sub(warm_up);
        self.timeline = self
            .timeline
            .into_iter()
            .map(|(scheduled, latency)| (scheduled - warm_up, latency))
            .collect();
        self
    }

    /// Where the requests slower than `threshold` were: how many, in how
    /// many of the run's 100 ms windows (by scheduled time), and the three
    /// windows with most. A few windows holding them all is a stall
    /// (checkpoint, scheduling); spread thin, it is queueing.
    pub fn slow_windows(&self, threshold: Duration) -> String {
        let mut windows = std::collections::BTreeMap::<u64, usize>::new();
        for (scheduled, latency) in &self.timeline {
            if *latency > threshold {
                *windows
                    .entry(scheduled.as_millis() as u64 / 100)
                    .or_default() += 1;
            }
        }
        let slow: usize = windows.values().sum();
        let mut worst: Vec<(u64, usize)> = windows.iter().map(|(w, n)| (*w, *n)).collect();
        worst.sort_by_key(|(w, n)| (std::cmp::Reverse(*n), *w));
        let worst: Vec<String> = worst
            .iter()
            .take(3)
            .map(|(w, n)| format!("{n} at {:.1} s", *w as f64 / 10.0))
            .collect();
        format!(
            "  over {} ms: {slow} of {} ({:.2} %), in {} of {} windows of 100 ms; most: {}",
            threshold.as_millis(),
            self.timeline.len(),
            100.0 * slow as f64 / self.timeline.len().max(1) as f64,
            windows.len(),
            self.elapsed.as_millis().div_ceil(100),
            if worst.is_empty() {
                "none".to_string()
            } else {
                worst.join(", ")
            },
        )
    }

    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn p95(&self) -> Duration {
        self.percentile(95.0)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (self.latencies.len() - 1) as f64).round() as usize;
        self.latencies[rank]
    }

    pub fn line(&self, name: &str) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{name:<40} ops={:<7} {:>9.1}/s  p50={:>7.2} ms  p95={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms  errors={}  cpu/op={:.0} µs",
            self.latencies.len(),
            self.throughput(),
            ms(self.percentile(50.0)),
            ms(self.percentile(95.0)),
            ms(self.percentile(99.0)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.errors,
            self.cpu.as_secs_f64() * 1e6 / self.latencies.len().max(1) as f64,
        )
    }
}

/// User plus system CPU time of this process so far, from /proc/self/stat.
pub(crate) fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    Duration::from_millis(stat_ticks(after) * 10)
}

/// utime plus stime, in clock ticks (100 per second on Linux), from what
/// follows the command name in a /proc/<pid>/stat line: the 12th and 13th
/// fields there.
fn stat_ticks(after_command: &str) -> u64 {
    let fields: Vec<&str> = after_command.split_whitespace().collect();
    fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
}

/// User plus system CPU time so far of every process named `command` (all
/// of PostgreSQL's backends, say, or RabbitMQ's `beam.smp`), from
/// /proc/<pid>/stat. A process that ends between two readings drops out of
/// the later one, so this suits long-lived processes only.
pub(crate) fn cpu_of_command(command: &str) -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    let ticks: u64 = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|stat| {
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1;
            (name == command).then(|| stat_ticks(rest))
        })
        .sum();
    Duration::from_millis(ticks * 10)
}
