//! Drives RPCs from concurrent clients, each on its own connection, and
//! summarises latencies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use task_service::auth::{JwtKeys, Role};
use todogenie_proto::v1 as pb;
use todogenie_proto::v1::task_service_client::TaskServiceClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;

use crate::stats::{process_cpu, Stats};

pub struct Target {
    pub endpoint: String,
    pub keys: Arc<JwtKeys>,
    /// HTTP/2 connections the concurrent streams share.
    pub connections: usize,
}

async fn connect(target: &Target) -> anyhow::Result<TaskServiceClient<Channel>> {
    let channel = Channel::from_shared(target.endpoint.clone())?
        .connect()
        .await?;
    Ok(TaskServiceClient::new(channel))
}

pub(crate) fn authorized<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("a JWT is ASCII");
    request.metadata_mut().insert("authorization", value);
    request
}

/// Runs `clients` loops for `duration`; each loop calls `call(client, i, n)`
/// and records its latency. Returns stats plus whatever the calls collected.
pub(crate) async fn drive<F, Fut>(
    target: &Target,
    clients: usize,
    duration: Duration,
    call: F,
) -> anyhow::Result<Stats>
where
    F: Fn(TaskServiceClient<Channel>, usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<Option<(String, String)>, tonic::Status>> + Send,
{
    // `clients` concurrent streams over `connections` HTTP/2 connections.
    let mut channels = Vec::new();
    for _ in 0..target.connections.clamp(1, clients) {
        channels.push(connect(target).await?);
    }
    let started = Instant::now();
    let cpu_before = process_cpu();
    let deadline = started + duration;
    let mut loops = Vec::new();
    for i in 0..clients {
        let client = channels[i % channels.len()].clone();
        let call = call.clone();
        loops.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut ids = Vec::new();
            let mut errors = 0;
            let mut n = 0;
            while Instant::now() < deadline {
                let began = Instant::now();
                match call(client.clone(), i, n).await {
                    Ok(id) => {
                        latencies.push(began.elapsed());
                        ids.extend(id);
                    }
                    Err(_) => errors += 1,
                }
                n += 1;
            }
            (latencies, ids, errors)
        }));
    }
    let mut stats = Stats::default();
    for handle in loops {
        let (latencies, ids, errors) = handle.await?;
        stats.latencies.extend(latencies);
        stats.ids.extend(ids);
        stats.errors += errors;
    }
    stats.finish(started, cpu_before);
    Ok(stats)
}

fn user_tokens(target: &Target, clients: usize) -> Arc<Vec<(String, String)>> {
    Arc::new(
        (0..clients)
            .map(|i| {
                let user = format!("bench-user-{i}");
                let token = crate::token(&target.keys, &user, Role::User);
                (user, token)
            })
            .collect(),
    )
}

/// CreateTask with a due time (so the reminder row is written too).
pub async fn drive_create(
    target: &Target,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let tokens = user_tokens(target, clients);
    let due = chrono::Utc::now() + chrono::Duration::days(1);
    drive(target, clients, duration, move |mut client, i, n| {
        let tokens = tokens.clone();
        async move {
            let task = pb::Task {
                title: format!("Bench task {n}"),
                tags: vec!["bench".into()],
                due_time: Some(prost_types::Timestamp {
                    seconds: due.timestamp(),
                    nanos: 0,
                }),
                ..pb::Task::default()
            };
            let request = pb::CreateTaskRequest {
                task: Some(task),
                request_id: String::new(),
            };
            let created = client
                .create_task(authorized(request, &tokens[i].1))
                .await?
                .into_inner();
            Ok(Some((created.id, tokens[i].1.clone())))
        }
    })
    .await
}

/// The most requests the paced mode keeps in flight (a bound on the load
/// generator itself; one waiting for a slot still counts its latency from
/// its scheduled time).
const PACED_IN_FLIGHT: usize = 10_000;

/// CreateTask at `rate` per second for `duration`, whatever the answers
/// (open loop): a closed loop's latency is bounded by its own throughput,
/// and hides a stall by sending less. Each latency counts from when its
/// request was due to leave, so a stall shows as the delay of every
/// request scheduled behind it.
pub async fn drive_create_paced(
    target: &Target,
    clients: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Stats> {
    anyhow::ensure!(
        rate > 0.0 && rate.is_finite(),
        "the paced rate must be positive"
    );
    let tokens = user_tokens(target, clients);
    let mut channels = Vec::new();
    for _ in 0..target.connections.clamp(1, clients) {
        channels.push(connect(target).await?);
    }
    let due = chrono::Utc::now() + chrono::Duration::days(1);
    let slots = Arc::new(tokio::sync::Semaphore::new(PACED_IN_FLIGHT));
    let (results, mut received) = tokio::sync::mpsc::unbounded_channel();
    let total = (rate * duration.as_secs_f64()) as u64;
    let started = Instant::now();
    let cpu_before = process_cpu();
    for n in 0..total {
        let scheduled = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(scheduled.into()).await;
        let slot = slots.clone().acquire_owned().await?;
        let i = (n as usize) % clients;
        let mut client = channels[i % channels.len()].clone();
        let token = tokens[i].1.clone();
        let results = results.clone();
        tokio::spawn(async move {
            let request = pb::CreateTaskRequest {
                task: Some(pb::Task {
                    title: format!("Paced task {n}"),
                    tags: vec!["bench".into()],
                    due_time: Some(prost_types::Timestamp {
                        seconds: due.timestamp(),
                        nanos: 0,
                    }),
                    ..pb::Task::default()
                }),
                request_id: String::new(),
            };
            let answer = client.create_task(authorized(request, &token)).await;
            let _ = results.send(
                answer
                    .map(|_| (scheduled - started, scheduled.elapsed()))
                    .map_err(drop),
            );
            drop(slot);
        });
    }
    drop(results);
    let mut stats = Stats::default();
    while let Some(result) = received.recv().await {
        match result {
            Ok((at, latency)) => {
                stats.latencies.push(latency);
                stats.timeline.push((at, latency));
            }
            Err(()) => stats.errors += 1,
        }
    }
    stats.finish(started, cpu_before);
    Ok(stats)
}

/// GetTask of tasks created in the CreateTask run, by their owners.
pub async fn drive_get(
    target: &Target,
    clients: usize,
    duration: Duration,
    ids: &[(String, String)],
) -> anyhow::Result<Stats> {
    anyhow::ensure!(!ids.is_empty(), "CreateTask created nothing to get");
    let ids = Arc::new(ids.to_vec());
    drive(target, clients, duration, move |mut client, i, n| {
        let ids = ids.clone();
        async move {
            let (id, token) = &ids[(i * 7919 + n as usize * 104_729) % ids.len()];
            client
                .get_task(authorized(pb::GetTaskRequest { id: id.clone() }, token))
                .await?;
            Ok(None)
        }
    })
    .await
}

/// ListTasks of each client's own tasks, first page of 50, default order.
pub async fn drive_list(
    target: &Target,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let tokens = user_tokens(target, clients);
    drive(target, clients, duration, move |mut client, i, _| {
        let tokens = tokens.clone();
        async move {
            let request = pb::ListTasksRequest {
                page_size: 50,
                ..Default::default()
            };
            client.list_tasks(authorized(request, &tokens[i].1)).await?;
            Ok(None)
        }
    })
    .await
}

/// 1000000 as "1M", 10000000 as "10M".
fn size_label(tasks: u64) -> String {
    if tasks >= 1_000_000 && tasks.is_multiple_of(1_000_000) {
        format!("{}M", tasks / 1_000_000)
    } else {
        tasks.to_string()
    }
}

/// The three ListTasks forms at the seeded size (and the search
/// across all owners), `requests` each, from 4 clients.
pub async fn list_forms(
    target: &Target,
    tasks: u64,
    owners: u64,
    requests: usize,
) -> anyhow::Result<Vec<(String, Stats)>> {
    let admin = crate::token(&target.keys, "bench-admin", Role::Admin);
    let mut results = Vec::new();
    for form in [
        "owner by due_time",
        "query word + tag",
        "admin, one state",
        "admin, query word + tag",
    ] {
        let clients = 4;
        let per_client = requests.div_ceil(clients);
        let mut handles = Vec::new();
        let started = Instant::now();
        let cpu_before = process_cpu();
        for c in 0..clients {
            let mut client = connect(target).await?;
            let keys = target.keys.clone();
            let admin = admin.clone();
            handles.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_client);
                let mut errors = 0;
                for n in 0..per_client {
                    let owner =
                        crate::seed::owner_name(((c * per_client + n) as u64 * 7_919) % owners);
                    let (request, token) = match form {
                        "owner by due_time" => (
                            pb::ListTasksRequest {
                                order_by: "due_time".into(),
                                page_size: 50,
                                ..Default::default()
                            },
                            crate::token(&keys, &owner, Role::User),
                        ),
                        "query word + tag" | "admin, query word + tag" => (
                            pb::ListTasksRequest {
                                query: crate::seed::WORDS[n % crate::seed::WORDS.len()].into(),
                                tags: vec![crate::seed::TAGS[n % crate::seed::TAGS.len()].into()],
                                page_size: 50,
                                ..Default::default()
                            },
                            if form.starts_with("admin") {
                                admin.clone()
                            } else {
                                crate::token(&keys, &owner, Role::User)
                            },
                        ),
                        _ => (
                            pb::ListTasksRequest {
                                states: vec![[1, 2, 3][n % 3]],
                                page_size: 50,
                                ..Default::default()
                            },
                            admin.clone(),
                        ),
                    };
                    let began = Instant::now();
                    match client.list_tasks(authorized(request, &token)).await {
                        Ok(_) => latencies.push(began.elapsed()),
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            }));
        }
        let mut stats = Stats::default();
        for handle in handles {
            let (latencies, errors) = handle.await?;
            stats.latencies.extend(latencies);
            stats.errors += errors;
        }
        stats.finish(started, cpu_before);
        results.push((format!("ListTasks @{}: {form}", size_label(tasks)), stats));
    }
    Ok(results)
}
