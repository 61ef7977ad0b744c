//! `task-bench --list-shapes N`: ListTasks over N statement shapes (orders
//! and combinations of filters, as a varied client sends them), and what the
//! PostgreSQL backends hold afterwards. Each shape is its own SQL text, and
//! each connection keeps its prepared statements (and their plans) up to
//! `TASK_DATABASE_STATEMENT_CACHE`: the memory that bound sets.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use task_service::auth::Role;
use todogenie_proto::v1 as pb;

use crate::load::{authorized, drive, Target};
use crate::seed::{owner_name, TAGS, WORDS};
use crate::stats::Stats;

/// Orders a client may ask for (the default, each key, and two of two keys).
const ORDERS: [&str; 10] = [
    "",
    "due_time",
    "due_time desc",
    "title",
    "title desc",
    "priority desc",
    "priority,due_time",
    "update_time desc",
    "create_time",
    "priority desc,title",
];

/// Distinct shapes [`request`] makes: orders × words (0–2) × states (none,
/// one, two) × priorities × tags × due_after × due_before.
pub const SHAPES: usize = ORDERS.len() * 3 * 3 * 2 * 2 * 2 * 2;

/// Owners whose tokens the mix uses (each with the seed's ~100 tasks).
const OWNERS: u64 = 64;

/// The `n`th request of shape `shape`: the shape fixes which filters are
/// set (and so the SQL text); `n` picks their values.
fn request(shape: usize, n: usize) -> pb::ListTasksRequest {
    let mut s = shape;
    let mut digit = |base: usize| {
        let d = s % base;
        s /= base;
        d
    };
    let order = ORDERS[digit(ORDERS.len())];
    let words = digit(3);
    let states = digit(3);
    let priorities = digit(2);
    let tags = digit(2);
    let due_after = digit(2) == 1;
    let due_before = digit(2) == 1;
    let now = chrono::Utc::now().timestamp();
    let at = |days: i64| prost_types::Timestamp {
        seconds: now + days * 86_400,
        nanos: 0,
    };
    pb::ListTasksRequest {
        page_size: 50,
        order_by: order.into(),
        query: (0..words)
            .map(|w| WORDS[(n + w * 7) % WORDS.len()])
            .collect::<Vec<_>>()
            .join(" "),
        states: (0..states).map(|k| [1, 2, 3][(n + k) % 3]).collect(),
        priorities: (0..priorities).map(|_| [1, 2, 3][n % 3]).collect(),
        tags: (0..tags).map(|_| TAGS[n % TAGS.len()].into()).collect(),
        due_after: due_after.then(|| at(-400)),
        due_before: due_before.then(|| at(400)),
        ..Default::default()
    }
}

/// ListTasks from `clients` loops for `duration`, request `n` of a loop
/// taking shape `(loop × 7,919 + n × 104,729) mod shapes`, as 64 owners.
pub async fn drive_mix(
    target: &Target,
    clients: usize,
    duration: Duration,
    shapes: usize,
) -> anyhow::Result<Stats> {
    anyhow::ensure!(
        (1..=SHAPES).contains(&shapes),
        "--list-shapes must be 1 to {SHAPES}"
    );
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..OWNERS)
            .map(|o| crate::token(&target.keys, &owner_name(o * 151), Role::User))
            .collect(),
    );
    drive(target, clients, duration, move |mut client, i, n| {
        let tokens = tokens.clone();
        async move {
            let pick = i * 7_919 + n as usize * 104_729;
            let request = request(pick % shapes, n as usize);
            let token = &tokens[pick % tokens.len()];
            client.list_tasks(authorized(request, token)).await?;
            Ok(None)
        }
    })
    .await
}

/// The database's client backends: how many, and their private memory
/// (`RssAnon`, from /proc: this bench runs beside PostgreSQL) in all and
/// at most, in MiB.
pub async fn backend_memory(pool: &PgPool) -> anyhow::Result<String> {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND backend_type = 'client backend'",
    )
    .fetch_all(pool)
    .await?;
    let kib: Vec<u64> = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .collect();
    let mib = |k: u64| k as f64 / 1024.0;
    Ok(format!(
        "backends={} (read {}) private memory total={:.1} MiB max={:.1} MiB",
        pids.len(),
        kib.len(),
        mib(kib.iter().sum()),
        mib(kib.iter().copied().max().unwrap_or(0)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_is_a_different_request() {
        let mut seen = std::collections::HashSet::new();
        for shape in 0..SHAPES {
            let r = request(shape, 0);
            seen.insert((
                r.order_by,
                r.query.split(' ').filter(|w| !w.is_empty()).count(),
                r.states.len(),
                r.priorities.len(),
                r.tags.len(),
                r.due_after.is_some(),
                r.due_before.is_some(),
            ));
        }
        assert_eq!(seen.len(), SHAPES);
    }
}
