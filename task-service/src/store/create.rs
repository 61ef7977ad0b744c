//! CreateTasks written together (group commit): many new tasks as one
//! statement in one transaction, with the same meaning row by row as
//! `tasks::insert_new` (the request id's claim, the series' uniqueness, the
//! fire times, the `task.created` event).

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::outbox::OutboxRecord;
use crate::domain::Task;

/// One CreateTask's writes, owned so that it can wait in a batch.
#[derive(Debug)]
pub struct NewTask {
    pub task: Task,
    pub fire_times: Vec<DateTime<Utc>>,
    /// The request id and the hash of the request it came with.
    pub key: Option<(String, [u8; 32])>,
    pub created: OutboxRecord,
}

impl NewTask {
    /// The identity of its request id: two in one batch would make the
    /// claim's `ON CONFLICT DO UPDATE` touch a row twice, an error.
    pub fn request(&self) -> Option<(&str, &str)> {
        self.key
            .as_ref()
            .map(|(id, _)| (self.task.owner.as_str(), id.as_str()))
    }
}

/// Writes `batch` in one statement and says, for each in order, whether its
/// task was inserted (`false`: its request id was seen, or its occurrence
/// exists, exactly as `insert_new`). The batch holds no two tasks with the
/// same (owner, request id). One statement is atomic: if it fails, nothing
/// of the batch was written. (Its span is the caller's: one batch belongs
/// to several callers' traces.)
pub async fn insert_batch(
    executor: impl PgExecutor<'_>,
    batch: &[NewTask],
) -> anyhow::Result<Vec<bool>> {
    let columns = Columns::of(batch);
    let inserted: Vec<Uuid> = sqlx::query_scalar!(
        "WITH claim AS ( \
             INSERT INTO create_requests (owner, request_id, request_hash, task_id, create_time) \
             SELECT * FROM unnest($19::text[], $20::text[], $21::bytea[], $22::uuid[], $23::timestamptz[]) \
             ON CONFLICT (owner, request_id) DO UPDATE \
                 SET request_hash = EXCLUDED.request_hash, task_id = EXCLUDED.task_id, \
                     create_time = EXCLUDED.create_time \
                 WHERE create_requests.create_time < EXCLUDED.create_time - make_interval(hours => $24) \
             RETURNING task_id \
         ), task AS ( \
             INSERT INTO tasks (id, owner, title, description, state, priority, tags, tags_folded, \
                 due_time, time_zone, recurrence, reminders, series_id, create_time, update_time, \
                 complete_time, version, series_start, occurrence) \
             SELECT n.id, n.owner, n.title, n.description, n.state, n.priority, \
                 ARRAY(SELECT jsonb_array_elements_text(n.tags::jsonb)), \
                 ARRAY(SELECT jsonb_array_elements_text(n.tags_folded::jsonb)), \
                 n.due_time, n.time_zone, n.recurrence, n.reminders::jsonb, n.series_id, n.create_time, \
                 n.update_time, n.complete_time, n.version, n.series_start, n.occurrence \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int2[], \
                 $7::text[], $8::text[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], \
                 $13::uuid[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[], \
                 $17::int8[], $18::timestamptz[], $25::int4[]) \
                 AS n(id, owner, title, description, state, priority, tags, tags_folded, due_time, \
                     time_zone, recurrence, reminders, series_id, create_time, update_time, \
                     complete_time, version, series_start, occurrence) \
             WHERE n.id <> ALL($22::uuid[]) OR n.id IN (SELECT task_id FROM claim) \
             ON CONFLICT (series_id, due_time) WHERE series_id IS NOT NULL DO NOTHING \
             RETURNING id \
         ), fire AS ( \
             INSERT INTO reminders (task_id, fire_time, source) \
             SELECT f.task_id, f.fire_time, 'rule' \
             FROM unnest($26::uuid[], $27::timestamptz[]) AS f(task_id, fire_time) \
             JOIN task ON task.id = f.task_id \
         ), event AS ( \
             INSERT INTO outbox (event_id, routing_key, payload, traceparent) \
             SELECT e.event_id, 'task.created', e.payload, e.traceparent \
             FROM unnest($28::uuid[], $29::uuid[], $30::bytea[], $31::text[]) \
                 WITH ORDINALITY AS e(task_id, event_id, payload, traceparent, n) \
             JOIN task ON task.id = e.task_id \
             ORDER BY e.n \
         ) \
         SELECT id AS \"id!\" FROM task",
        &columns.id,
        &columns.owner as &[&str],
        &columns.title as &[&str],
        &columns.description as &[&str],
        &columns.state as &[&str],
        &columns.priority,
        &columns.tags,
        &columns.tags_folded,
        &columns.due_time as &[Option<DateTime<Utc>>],
        &columns.time_zone as &[&str],
        &columns.recurrence as &[&str],
        &columns.reminders,
        &columns.series_id as &[Option<Uuid>],
        &columns.create_time,
        &columns.update_time,
        &columns.complete_time as &[Option<DateTime<Utc>>],
        &columns.version,
        &columns.series_start as &[Option<DateTime<Utc>>],
        &columns.claim_owner as &[&str],
        &columns.claim_request as &[&str],
        &columns.claim_hash as &[&[u8]],
        &columns.claim_task,
        &columns.claim_time,
        super::requests::RETENTION_HOURS,
        &columns.occurrence,
        &columns.fire_task,
        &columns.fire_time,
        &columns.event_task,
        &columns.event_id,
        &columns.event_payload as &[&[u8]],
        &columns.event_traceparent as &[&str],
    )
    .fetch_all(executor)
    .await
    .context("cannot insert a batch of tasks")?;
    let inserted: std::collections::HashSet<Uuid> = inserted.into_iter().collect();
    Ok(batch
        .iter()
        .map(|new| inserted.contains(&new.task.id))
        .collect())
}

/// The batch as one array per column: what `unnest` reads.
#[derive(Default)]
struct Columns<'a> {
    id: Vec<Uuid>,
    owner: Vec<&'a str>,
    title: Vec<&'a str>,
    description: Vec<&'a str>,
    state: Vec<&'a str>,
    priority: Vec<i16>,
    // A text[] per row: PostgreSQL arrays are rectangular, so as JSON text
    // (the checked macros take no jsonb[]).
    tags: Vec<String>,
    tags_folded: Vec<String>,
    due_time: Vec<Option<DateTime<Utc>>>,
    time_zone: Vec<&'a str>,
    recurrence: Vec<&'a str>,
    reminders: Vec<String>,
    series_id: Vec<Option<Uuid>>,
    create_time: Vec<DateTime<Utc>>,
    update_time: Vec<DateTime<Utc>>,
    complete_time: Vec<Option<DateTime<Utc>>>,
    version: Vec<i64>,
    series_start: Vec<Option<DateTime<Utc>>>,
    occurrence: Vec<i32>,
    claim_owner: Vec<&'a str>,
    claim_request: Vec<&'a str>,
    claim_hash: Vec<&'a [u8]>,
    claim_task: Vec<Uuid>,
    claim_time: Vec<DateTime<Utc>>,
    fire_task: Vec<Uuid>,
    fire_time: Vec<DateTime<Utc>>,
    event_task: Vec<Uuid>,
    event_id: Vec<Uuid>,
    event_payload: Vec<&'a [u8]>,
    event_traceparent: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a [NewTask]) -> Self {
        let mut c = Columns::default();
        for new in batch {
            let task = &new.task;
            c.id.push(task.id);
            c.owner.push(task.owner.as_str());
            c.title.push(task.title.as_str());
            c.description.push(task.description.as_str());
            c.state.push(task.state.as_db());
            c.priority.push(task.priority.as_db());
            c.tags.push(json(task.tags.as_slice()));
            c.tags_folded.push(json(&task.tags.folded()));
            c.due_time.push(task.due_time);
            c.time_zone.push(task.time_zone.name());
            c.recurrence.push(task.recurrence.as_str());
            c.reminders.push(json(task.reminders.as_slice()));
            c.series_id.push(task.series_id);
            c.create_time.push(task.create_time);
            c.update_time.push(task.update_time);
            c.complete_time.push(task.complete_time);
            c.version.push(task.version);
            c.series_start.push(task.series_start);
            c.occurrence
                .push(i32::try_from(task.occurrence).unwrap_or(i32::MAX));
            if let Some((request_id, hash)) = &new.key {
                c.claim_owner.push(task.owner.as_str());
                c.claim_request.push(request_id);
                c.claim_hash.push(hash.as_slice());
                c.claim_task.push(task.id);
                c.claim_time.push(task.create_time);
            }
            for at in &new.fire_times {
                c.fire_task.push(task.id);
                c.fire_time.push(*at);
            }
            c.event_task.push(task.id);
            c.event_id.push(new.created.event_id);
            c.event_payload.push(new.created.payload.as_slice());
            c.event_traceparent.push(&new.created.traceparent);
        }
        c
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("tags and reminders serialise")
}
