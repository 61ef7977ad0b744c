//! `task-bench`: measures task-service against the real PostgreSQL.
//!
//! 1. CreateTask, GetTask and ListTasks from N concurrent gRPC clients for T
//!    seconds each: throughput and p50/p99.
//! 2. pgbench running CreateTask's transaction (the same SQL) with the same
//!    client count: our throughput as a ratio of pgbench's.
//! 3. 1,000,000 tasks over 10,000 owners: ListTasks p95 for one owner's tasks
//!    by due time, a query word plus a tag, and an admin listing one state.
//!
//! It starts task-service in-process on a fresh database (dropped first).

/// The allocator task-service's binary runs with (see its `main.rs`): the
/// service measured here is the one that ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod events;
mod h2load;
mod load;
mod open_loop;
mod pgbench;
mod seed;
mod shapes;
mod stats;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use task_service::auth::{JwtKeys, JwtSecret, Role};
use task_service::config::{LimitSettings, Settings};
use task_service::domain::UserId;
use task_service::startup::Application;
use todogenie_common::settings::SharedSettings;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "task-bench",
    about = "Benchmarks task-service against PostgreSQL and pgbench"
)]
struct Args {
    /// PostgreSQL server URL (without a database name).
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    postgres_url: String,
    /// Database to create (dropped first if it exists).
    #[arg(long, default_value = "todogenie_bench")]
    database: String,
    /// Concurrent gRPC streams (and pgbench clients).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// HTTP/2 connections the streams are spread over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds each RPC is driven for.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// task-service's PostgreSQL pool size (TASK_DATABASE_MAX_CONNECTIONS).
    #[arg(long, default_value_t = 32)]
    pool: u32,
    /// task-service's prepared statements per connection
    /// (TASK_DATABASE_STATEMENT_CACHE).
    #[arg(
        long,
        default_value_t = todogenie_common::db::STATEMENT_CACHE,
        value_parser = clap::value_parser!(u16).range(1..=1000)
    )]
    statement_cache: u16,
    /// Before step 3's forms, ListTasks for --seconds from --clients over
    /// this many statement shapes (orders and combinations of filters, up to
    /// 1,440), then the PostgreSQL backends' private memory.
    #[arg(long, conflicts_with = "skip_seed")]
    list_shapes: Option<usize>,
    /// Tasks to seed for the ListTasks figures.
    #[arg(long, default_value_t = 1_000_000)]
    seed_tasks: u64,
    /// Owners the seeded tasks are spread over.
    #[arg(long, default_value_t = 10_000)]
    owners: u64,
    /// ListTasks requests per form at the seeded size.
    #[arg(long, default_value_t = 1000)]
    list_requests: usize,
    /// Skip step 3 (seeding takes about a minute).
    #[arg(long)]
    skip_seed: bool,
    /// Run the events benchmark instead (reminder lag, burst, relay).
    #[arg(long)]
    events: bool,
    /// --events: reminders per second in the steady run.
    #[arg(long, default_value_t = 1000)]
    steady_rate: u64,
    /// --events: seconds of the steady run.
    #[arg(long, default_value_t = 60)]
    steady_seconds: u64,
    /// --events: reminders due in the same second.
    #[arg(long, default_value_t = 100_000)]
    burst: u64,
    /// --events: outbox rows for the relay-against-bare-publisher run.
    #[arg(long, default_value_t = 50_000)]
    relay_events: u64,
    /// --events: rounds of the relay against the bare publisher, alternating
    /// which goes first (the median ratio is the figure).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    relay_rounds: u32,
    /// RabbitMQ for --events.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    /// After step 2, CreateTask again in an open loop at half of pgbench's
    /// rate (or --paced-rate): sent on a fixed schedule whatever the
    /// answers, each latency counted from when its request was due to leave.
    #[arg(long)]
    paced: bool,
    /// --paced: requests per second instead of half of pgbench's rate.
    /// With --pgbench-only: pgbench's open loop at this rate instead of its
    /// closed loop.
    #[arg(long)]
    paced_rate: Option<f64>,
    /// --pgbench-only --paced-rate: also summarise this `h2load --rps
    /// --log-file` log (an outside client's open loop at the same rate),
    /// beside pgbench's: scripts/bench-create-h2load.sh's paced run.
    #[arg(long, requires = "paced_rate")]
    paced_log: Option<std::path::PathBuf>,
    /// Only pgbench with CreateTask's statement, on --database as it is (a
    /// database task-service migrated), printing its tps: the baseline for
    /// scripts/bench-create-h2load.sh.
    #[arg(long)]
    pgbench_only: bool,
    /// Only step 3, on the database a previous run seeded (kept if it holds
    /// at least --seed-tasks tasks: a run's CreateTasks add a few).
    #[arg(long, conflicts_with = "skip_seed")]
    lists_only: bool,
    /// After step 3, grow the table to this many tasks with the same mix,
    /// run the ListTasks forms again and CreateTask again: the cost of size
    /// (issue 13, target 8), every ratio within one run.
    #[arg(long, conflicts_with = "skip_seed")]
    grow_to: Option<u64>,
    /// Only CreateTask for --seconds, on --database as it is (kept, however
    /// many tasks it holds): the write rate at a size a previous run grew,
    /// e.g. under different PostgreSQL settings.
    #[arg(long, conflicts_with_all = ["lists_only", "grow_to", "events"])]
    create_only: bool,
    /// Only delete the broker topology of --database (`bench.<database>`,
    /// its queues and their messages): scripts/bench-create-h2load.sh's
    /// clean-up. Every other run deletes its own at its end.
    #[arg(long)]
    delete_topology: bool,
    /// The log filter of the service run in this process, as the binary's
    /// RUST_LOG: the service pays for its spans and logs as it does when
    /// deployed (until 2026-12-04 the bench installed no subscriber, and
    /// every span was free).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log_filter: String,
}

const SECRET: &str = "task-bench-secret-0123456789abcdef";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _telemetry = todogenie_common::telemetry::init(&args.log_filter, "text", "task-bench");
    let database_url = format!("{}/{}", args.postgres_url, args.database);
    if args.pgbench_only {
        if let Some(rate) = args.paced_rate {
            return open_loop::pgbench_beside_log(&args, &database_url, rate).await;
        }
        let tps = pgbench::create_task_tps(&database_url, args.clients, args.seconds).await?;
        println!(
            "pgbench, CreateTask's SQL  clients={} tps={tps:.1}",
            args.clients
        );
        return Ok(());
    }
    let topology = events::bench_topology(&format!("bench.{}", args.database));
    if args.delete_topology {
        return events::delete_topology(&args.amqp_url, &topology).await;
    }
    if !args.lists_only && !args.create_only {
        seed::recreate_database(&args.postgres_url, &args.database).await?;
    }

    let settings = Settings {
        shared: SharedSettings {
            amqp_url: args.amqp_url.clone(),
            amqp_exchange: topology.exchange.clone(),
            amqp_queue: topology.queue.clone(),
            jwt_secret: JwtSecret::new(SECRET.into()).map_err(anyhow::Error::msg)?,
            log_filter: "warn".into(),
            log_format: "text".into(),
            cors_allowed_origins: Default::default(),
        },
        grpc_addr: "127.0.0.1:0".parse()?,
        http_addr: "127.0.0.1:0".parse()?,
        database_url: database_url.clone(),
        database_max_connections: args.pool,
        database_statement_cache: args.statement_cache,
        rpc_timeout: Duration::from_secs(30),
        // The limiter and the quota run on every CreateTask (bench users are
        // `user`s), with a rate no bench reaches: their cost is measured,
        // not their refusals.
        limits: LimitSettings {
            user_rate: NonZeroU32::new(1_000_000).expect("not zero"),
            user_burst: NonZeroU32::new(1_000_000).expect("not zero"),
            ..LimitSettings::default()
        },
    };
    let keys = Arc::new(JwtKeys::new(&settings.shared.jwt_secret));
    let app = Application::build(settings)
        .await
        .context("start task-service")?;
    let target = load::Target {
        endpoint: format!("http://{}", app.grpc_addr()),
        keys,
        connections: args.connections,
    };
    let pool = app.pool().clone();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));

    if args.events {
        let event_args = events::EventArgs {
            amqp_url: args.amqp_url.clone(),
            exchange: format!("bench.{}", args.database),
            steady_rate: args.steady_rate,
            steady_seconds: args.steady_seconds,
            burst: args.burst,
            relay_events: args.relay_events,
            relay_rounds: args.relay_rounds,
        };
        println!("# task-bench --events, {} cores", num_cores());
        // The bench's own writes (100,000 reminders, 50,000 outbox rows)
        // on connections of its own, as the seed's.
        let bench_pool = seed::bench_pool(&pool).await?;
        events::run(&bench_pool, &event_args).await?;
        bench_pool.close().await;
        shutdown.cancel();
        server.await??;
        return events::delete_topology(&args.amqp_url, &topology).await;
    }
    if args.create_only {
        let create =
            load::drive_create(&target, args.clients, Duration::from_secs(args.seconds)).await?;
        // Counted after: a count(*) of millions of rows just before would
        // fill PostgreSQL's buffers with table pages CreateTask never reads.
        let held = seed::count(&pool).await?;
        println!(
            "{}",
            create.line(&format!("CreateTask, {held} tasks after"))
        );
        shutdown.cancel();
        server.await??;
        return events::delete_topology(&args.amqp_url, &topology).await;
    }
    let mut empty_create = None;
    if !args.lists_only {
        println!(
            "# task-bench {} streams over {} connections, {} s per RPC, {} cores",
            args.clients,
            args.connections.clamp(1, args.clients),
            args.seconds,
            num_cores()
        );
        // The notifier's queue: every event is routed and stored as in
        // production (nobody consumes it here: the consumer's CPU is
        // another service's).
        let _sink = events::bind_sink(&args.amqp_url, &topology).await?;
        empty_create = Some(rpc_and_pgbench(&args, &target, &database_url).await?);
    }
    if !args.skip_seed {
        let held = seed::count(&pool).await?;
        if args.lists_only && held >= args.seed_tasks {
            println!("# reusing the {held} tasks a previous run seeded");
        } else {
            seed::clear(&pool).await?;
            let seeded = seed::seed(&pool, args.seed_tasks, args.owners).await?;
            println!(
                "# seeded {} tasks over {} owners in {:.1} s",
                args.seed_tasks,
                args.owners,
                seeded.as_secs_f64()
            );
        }
        if let Some(shapes) = args.list_shapes {
            println!("# before the mix: {}", shapes::backend_memory(&pool).await?);
            let duration = Duration::from_secs(args.seconds);
            let mix = shapes::drive_mix(&target, args.clients, duration, shapes).await?;
            println!(
                "{}",
                mix.line(&format!(
                    "ListTasks, {shapes} shapes, cache {}",
                    args.statement_cache
                ))
            );
            println!("# after the mix: {}", shapes::backend_memory(&pool).await?);
        }
        let small =
            load::list_forms(&target, args.seed_tasks, args.owners, args.list_requests).await?;
        for (name, stats) in &small {
            println!("{}", stats.line(name));
        }
        if let Some(size) = args.grow_to {
            grow(&args, &target, &pool, size, &small, empty_create).await?;
        }
    }

    shutdown.cancel();
    server.await??;
    events::delete_topology(&args.amqp_url, &topology).await
}

/// `--grow-to`: the table grown from --seed-tasks to `size` tasks, then each
/// ListTasks form's p95 and CreateTask's rate against their figures at the
/// smaller size (and on the empty database) earlier in this run.
async fn grow(
    args: &Args,
    target: &load::Target,
    pool: &sqlx::PgPool,
    size: u64,
    small: &[(String, stats::Stats)],
    empty_create: Option<f64>,
) -> anyhow::Result<()> {
    anyhow::ensure!(size > args.seed_tasks, "--grow-to must exceed --seed-tasks");
    let seeded = seed::seed_range(pool, args.seed_tasks, size, args.owners).await?;
    println!("# grew to {size} tasks in {:.1} s", seeded.as_secs_f64());
    let large = load::list_forms(target, size, args.owners, args.list_requests).await?;
    for ((name, stats), (_, before)) in large.iter().zip(small) {
        println!(
            "{}  p95 ×{:.2} of {} tasks",
            stats.line(name),
            stats.p95().as_secs_f64() / before.p95().as_secs_f64(),
            args.seed_tasks
        );
    }
    let create =
        load::drive_create(target, args.clients, Duration::from_secs(args.seconds)).await?;
    match empty_create {
        Some(empty) => println!(
            "{}  ×{:.2} of the empty database's rate",
            create.line(&format!("CreateTask at {size}")),
            create.throughput() / empty
        ),
        None => println!("{}", create.line(&format!("CreateTask at {size}"))),
    }
    Ok(())
}

/// Steps 1 and 2; CreateTask's rate on the empty database.
async fn rpc_and_pgbench(
    args: &Args,
    target: &load::Target,
    database_url: &str,
) -> anyhow::Result<f64> {
    let duration = Duration::from_secs(args.seconds);
    let create = load::drive_create(target, args.clients, duration).await?;
    println!("{}", create.line("CreateTask"));
    let get = load::drive_get(target, args.clients, duration, &create.ids).await?;
    println!("{}", get.line("GetTask"));
    let list = load::drive_list(target, args.clients, duration).await?;
    println!("{}", list.line("ListTasks (own, page 50)"));

    let pg = pgbench::create_task_tps(database_url, args.clients, args.seconds).await?;
    println!(
        "pgbench, CreateTask's SQL  clients={:<3} tps={:>9.1}   ours/pgbench = {:.2}",
        args.clients,
        pg,
        create.throughput() / pg
    );
    if args.paced {
        // The baseline first, at the same rate in the same run.
        let rate = args.paced_rate.unwrap_or(pg / 2.0);
        let baseline = open_loop::pgbench(args, database_url, rate).await?;
        let duration = duration + open_loop::WARM_UP;
        let paced = load::drive_create_paced(target, args.clients, rate, duration)
            .await?
            .after(open_loop::WARM_UP);
        open_loop::print(&paced, &format!("{rate:.0}/s (open loop)"), &baseline);
    }

    Ok(create.throughput())
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
}

/// A token for the benchmark's callers.
fn token(keys: &JwtKeys, sub: &str, role: Role) -> String {
    keys.issue(
        &UserId::parse(sub).expect("bench user ids are valid"),
        role,
        Duration::from_secs(3600),
    )
}
