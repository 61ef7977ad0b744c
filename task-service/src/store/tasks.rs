//! The `tasks` table: reading rows into [`Task`]s and writing them back.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::outbox::OutboxRecord;
use crate::domain::{
    Description, Priority, Recurrence, Reminder, Reminders, Tags, Task, TaskState, TaskTitle,
    TimeZone, UserId,
};

/// `SELECT <every TaskRow column> FROM tasks ` followed by `$rest`, as a
/// query checked at compile time against the schema (offline data in
/// `../.sqlx`).
macro_rules! select_tasks {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            $crate::store::tasks::TaskRow,
            "SELECT id, owner, title, description, state, priority, tags, due_time, time_zone, \
             recurrence, reminders AS \"reminders: sqlx::types::Json<Vec<crate::domain::Reminder>>\", \
             series_id, series_start, occurrence, recurrence_done, create_time, update_time, \
             complete_time, version, \
             CASE WHEN state IN ('pending', 'in_progress') THEN \
                 (SELECT min(r.fire_time) FROM reminders r WHERE r.task_id = tasks.id) \
             END AS next_reminder_time FROM tasks " + $rest
            $(, $arg)*
        )
    };
}
pub(super) use select_tasks;

/// The columns the built ListTasks query selects, in [`TaskRow`] order.
pub const COLUMNS: &str = "id, owner, title, description, state, priority, tags, due_time, \
     time_zone, recurrence, reminders, series_id, series_start, occurrence, recurrence_done, \
     create_time, update_time, complete_time, version, \
     CASE WHEN state IN ('pending', 'in_progress') THEN \
         (SELECT min(r.fire_time) FROM reminders r WHERE r.task_id = tasks.id) \
     END AS next_reminder_time";

#[derive(sqlx::FromRow)]
pub struct TaskRow {
    pub(super) id: Uuid,
    pub(super) owner: String,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) state: String,
    pub(super) priority: i16,
    pub(super) tags: Vec<String>,
    pub(super) due_time: Option<DateTime<Utc>>,
    pub(super) time_zone: String,
    pub(super) recurrence: String,
    pub(super) reminders: sqlx::types::Json<Vec<Reminder>>,
    pub(super) series_id: Option<Uuid>,
    pub(super) series_start: Option<DateTime<Utc>>,
    pub(super) occurrence: i32,
    pub(super) recurrence_done: bool,
    pub(super) create_time: DateTime<Utc>,
    pub(super) update_time: DateTime<Utc>,
    pub(super) complete_time: Option<DateTime<Utc>>,
    pub(super) version: i64,
    /// The earliest pending fire time of an open task (a subquery).
    pub(super) next_reminder_time: Option<DateTime<Utc>>,
}

impl TryFrom<TaskRow> for Task {
    type Error = anyhow::Error;

    /// Rows were checked on the way in; a value that does not read back is
    /// corruption, reported with the row's id.
    fn try_from(row: TaskRow) -> anyhow::Result<Self> {
        let id = row.id;
        Ok(Task {
            id,
            owner: UserId::from_stored(row.owner),
            title: TaskTitle::from_stored(row.title),
            description: Description::from_stored(row.description),
            state: TaskState::from_db(&row.state)
                .with_context(|| format!("task {id} has unknown state {:?}", row.state))?,
            priority: Priority::from_db(row.priority)
                .with_context(|| format!("task {id} has unknown priority {}", row.priority))?,
            tags: Tags::from_stored(row.tags),
            due_time: row.due_time,
            time_zone: zone_of(id, &row.time_zone),
            recurrence: Recurrence::from_stored(row.recurrence),
            reminders: Reminders::from_stored(row.reminders.0),
            series_id: row.series_id,
            series_start: row.series_start,
            occurrence: u32::try_from(row.occurrence).unwrap_or(1),
            recurrence_done: row.recurrence_done,
            create_time: row.create_time,
            update_time: row.update_time,
            complete_time: row.complete_time,
            version: row.version,
            next_reminder_time: row.next_reminder_time,
        })
    }
}

/// A zone name the tz database no longer knows (chrono-tz updated, a zone
/// withdrawn) must not make the task unreadable, nor fail the scheduler's
/// batch it is in: the task is read as UTC, and the row is logged.
fn zone_of(id: Uuid, name: &str) -> TimeZone {
    TimeZone::parse(name).unwrap_or_else(|_| {
        tracing::error!(task = %id, zone = name, "unknown time zone in a stored task; using UTC");
        TimeZone::default()
    })
}

/// A CreateTask idempotency key as stored: the request id and a hash of the
/// request it came with.
pub struct RequestKey<'a> {
    pub request_id: &'a str,
    pub request_hash: &'a [u8],
}

/// A new task as one statement: one round trip, and atomic without an
/// explicit transaction. It claims the request id (if any), inserts the
/// task only if the claim succeeded and no occurrence of its series is
/// due at the same time, then its fire times and its `task.created` event.
/// A claim races a concurrent first use of the same id on the unique key:
/// the loser waits for the winner's commit and inserts nothing. Returns
/// whether the task was inserted; `false` means the request id was seen
/// (see `requests::find`) or the occurrence exists.
#[tracing::instrument(name = "sql transaction", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation = "insert_new"))]
pub async fn insert_new(
    executor: impl PgExecutor<'_>,
    task: &Task,
    fire_times: &[DateTime<Utc>],
    key: Option<RequestKey<'_>>,
    created: &OutboxRecord,
) -> anyhow::Result<bool> {
    debug_assert_eq!(created.routing_key, "task.created");
    let inserted = sqlx::query_scalar!(
        "WITH claim AS ( \
             INSERT INTO create_requests (owner, request_id, request_hash, task_id, create_time) \
             SELECT $2, $18, $19, $1, $14 WHERE $18::text IS NOT NULL \
             ON CONFLICT (owner, request_id) DO UPDATE \
                 SET request_hash = EXCLUDED.request_hash, task_id = EXCLUDED.task_id, \
                     create_time = EXCLUDED.create_time \
                 WHERE create_requests.create_time < EXCLUDED.create_time - make_interval(hours => $21) \
             RETURNING 1 \
         ), task AS ( \
             INSERT INTO tasks (id, owner, title, description, state, priority, tags, tags_folded, \
                 due_time, time_zone, recurrence, reminders, series_id, create_time, update_time, \
                 complete_time, version, series_start, occurrence) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $22, $26 \
             WHERE $18::text IS NULL OR EXISTS (SELECT FROM claim) \
             ON CONFLICT (series_id, due_time) WHERE series_id IS NOT NULL DO NOTHING \
             RETURNING id \
         ), fire AS ( \
             INSERT INTO reminders (task_id, fire_time, source) \
             SELECT task.id, t, 'rule' FROM task, unnest($20::timestamptz[]) AS t \
         ), event AS ( \
             INSERT INTO outbox (event_id, routing_key, payload, traceparent) \
             SELECT $23, 'task.created', $24, $25 FROM task \
         ) \
         SELECT EXISTS (SELECT FROM task) AS \"inserted!\"",
        task.id,
        task.owner.as_str(),
        task.title.as_str(),
        task.description.as_str(),
        task.state as _,
        task.priority as _,
        task.tags.as_slice(),
        &task.tags.folded(),
        task.due_time,
        task.time_zone.name(),
        task.recurrence.as_str(),
        sqlx::types::Json(task.reminders.as_slice()) as _,
        task.series_id,
        task.create_time,
        task.update_time,
        task.complete_time,
        task.version,
        key.as_ref().map(|k| k.request_id),
        key.as_ref().map(|k| k.request_hash),
        fire_times,
        super::requests::RETENTION_HOURS,
        task.series_start,
        created.event_id,
        &created.payload,
        &created.traceparent,
        i32::try_from(task.occurrence).unwrap_or(i32::MAX),
    )
    .fetch_one(executor)
    .await
    .context("cannot insert task")?;
    Ok(inserted)
}

pub async fn get(executor: impl PgExecutor<'_>, id: Uuid) -> anyhow::Result<Option<Task>> {
    let row = select_tasks!("WHERE id = $1", id)
        .fetch_optional(executor)
        .await
        .context("cannot read task")?;
    row.map(Task::try_from).transpose()
}

/// Reads and row-locks a task for a read-modify-write in `conn`'s transaction.
pub async fn get_for_update(conn: &mut PgConnection, id: Uuid) -> anyhow::Result<Option<Task>> {
    let row = select_tasks!("WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(conn)
        .await
        .context("cannot read task for update")?;
    row.map(Task::try_from).transpose()
}

/// Writes every mutable column of a task read with [`get_for_update`].
pub async fn update(conn: &mut PgConnection, task: &Task) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE tasks SET title = $2, description = $3, state = $4, priority = $5, tags = $6, \
         tags_folded = $7, due_time = $8, time_zone = $9, recurrence = $10, reminders = $11, \
         series_id = $12, update_time = $13, complete_time = $14, version = $15, \
         series_start = $16, recurrence_done = $17 \
         WHERE id = $1",
        task.id,
        task.title.as_str(),
        task.description.as_str(),
        task.state as _,
        task.priority as _,
        task.tags.as_slice(),
        &task.tags.folded(),
        task.due_time,
        task.time_zone.name(),
        task.recurrence.as_str(),
        sqlx::types::Json(task.reminders.as_slice()) as _,
        task.series_id,
        task.update_time,
        task.complete_time,
        task.version,
        task.series_start,
        task.recurrence_done,
    )
    .execute(conn)
    .await
    .context("cannot update task")?;
    Ok(())
}

/// The next occurrence exists (or the rule ended): never make another.
pub async fn mark_recurrence_done(conn: &mut PgConnection, id: Uuid) -> anyhow::Result<()> {
    sqlx::query!("UPDATE tasks SET recurrence_done = true WHERE id = $1", id)
        .execute(conn)
        .await
        .context("cannot mark recurrence done")?;
    Ok(())
}

pub async fn delete(conn: &mut PgConnection, id: Uuid) -> anyhow::Result<()> {
    sqlx::query!("DELETE FROM tasks WHERE id = $1", id)
        .execute(conn)
        .await
        .context("cannot delete task")?;
    Ok(())
}

/// How many of `owner`'s tasks are not archived: the row the database's
/// triggers keep (migration `owner_task_counts`), one index lookup whatever
/// the owner's size.
pub async fn count_open(executor: impl PgExecutor<'_>, owner: &str) -> anyhow::Result<u64> {
    let open = sqlx::query_scalar!("SELECT open FROM owner_task_counts WHERE owner = $1", owner)
        .fetch_optional(executor)
        .await
        .context("cannot count an owner's tasks")?;
    Ok(open.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// Whether `error` is a unique violation of `constraint`.
pub fn violates(error: &anyhow::Error, constraint: &str) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::Database(e)) if e.constraint() == Some(constraint)
        )
    })
}

/// The constraint that keeps one occurrence per series and due time.
pub const SERIES_DUE_TIME: &str = "tasks_series_due_time";
