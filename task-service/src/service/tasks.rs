//! Task operations. Each one that changes a task runs in one transaction:
//! the row, its reminder fire times and its event in the outbox commit
//! together or not at all. A call that changes nothing writes nothing.

use anyhow::Context as _;
use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::Caller;
use crate::domain::{
    Cursor, FieldViolations, ListFilter, OrderBy, OwnerScope, PageSize, RequestId, SnoozeDuration,
    Task, TaskPatch, TaskSpec, TaskState,
};
use crate::error::{Error, Result};
use crate::events::{self, EventKind, TaskEvent, TraceParent};
use crate::store;
use crate::wake::Wake;

use super::group_commit::GroupCommit;
use super::Limits;

/// Snoozes pending on one task at most (each is a row in `reminders`).
const MAX_SNOOZES: i64 = 10;

/// A CreateTask `request_id` and a hash of the request it came with.
#[derive(Debug, Clone)]
pub(crate) struct IdempotencyKey {
    pub request_id: RequestId,
    pub request_hash: [u8; 32],
}

/// One page of a listing; `next` is where the following page starts.
#[derive(Debug)]
pub(crate) struct Page {
    pub tasks: Vec<Task>,
    pub next: Option<Cursor>,
}

#[derive(Clone)]
pub(crate) struct Tasks {
    pool: PgPool,
    wake: Wake,
    limits: Limits,
    creates: GroupCommit,
}

impl Tasks {
    pub(crate) fn new(pool: PgPool, wake: Wake, limits: Limits) -> Self {
        let creates = GroupCommit::start(pool.clone());
        Self {
            pool,
            wake,
            limits,
            creates,
        }
    }

    /// After a commit that wrote events; `schedule_changed` when it may
    /// also have moved a fire time or a recurring due time earlier.
    ///
    /// CreateTask passes whether the new task gives the scheduler work:
    /// waking it for every task made it run two empty transactions and a
    /// next-wake query per CreateTask batch, 245 wake-ups a second at 2,200
    /// CreateTasks/s on the two cores the calls share; without them
    /// task-service's CPU per CreateTask fell from 164–172 to 143–150 µs
    /// (scripts/bench-create-h2load.sh, 2026-12-05, alternating).
    fn committed(&self, schedule_changed: bool) {
        self.wake.outbox_written();
        if schedule_changed {
            self.wake.schedule_changed();
        }
    }

    pub(crate) async fn create(
        &self,
        caller: &Caller,
        spec: TaskSpec,
        key: Option<IdempotencyKey>,
        trace: TraceParent,
    ) -> Result<Task> {
        if !caller.may_act_for(&spec.owner) {
            return Err(Error::PermissionDenied(
                "only admin and service callers may create tasks for another owner".into(),
            ));
        }
        let now = Utc::now();
        let task = Task::new(spec, now)?;
        super::recurrence::check_rule(&task, now).await?;
        let slot = self
            .limits
            .reserve_task(&self.pool, caller, &task.owner)
            .await?;
        let fire_times = task.upcoming_fire_times(now);
        let schedules = task.gives_scheduler_work(&fire_times);
        let created = TaskEvent::new(EventKind::Created, &task, now, trace).to_outbox();
        let new = store::create::NewTask {
            task,
            fire_times,
            key: key
                .as_ref()
                .map(|k| (k.request_id.as_str().to_owned(), k.request_hash)),
            created,
        };
        let (task, inserted) = self.creates.insert(new).await?;
        if inserted {
            self.committed(schedules);
            if let Some(slot) = slot {
                slot.keep();
            }
            return Ok(task);
        }
        let key = key.expect("only a request id makes the insert a no-op");
        let seen = store::requests::find(&self.pool, task.owner.as_str(), key.request_id.as_str())
            .await?
            .context("a request id that blocked the insert is gone")?;
        self.replay(&key, &seen.0, seen.1).await
    }

    /// The answer to a repeated request id: the task it created, as it is now.
    async fn replay(&self, key: &IdempotencyKey, first_hash: &[u8], task_id: Uuid) -> Result<Task> {
        if first_hash != key.request_hash {
            return Err(FieldViolations::single(
                "request_id",
                "was used in the last 24 hours for a different request",
            )
            .into());
        }
        store::tasks::get(&self.pool, task_id)
            .await?
            .ok_or_else(|| {
                Error::FailedPrecondition(
                    "the task this request_id created has since been deleted".into(),
                )
            })
    }

    pub(crate) async fn get(&self, caller: &Caller, id: Uuid) -> Result<Task> {
        let task = store::tasks::get(&self.pool, id).await?;
        visible(caller, task)
    }

    /// `owner`: the one the request names, if any.
    pub(crate) async fn list(
        &self,
        caller: &Caller,
        mut filter: ListFilter,
        order: &OrderBy,
        page_size: PageSize,
        after: Option<&Cursor>,
    ) -> Result<Page> {
        filter.scope = scope_for(caller, filter.scope)?;
        let limit = page_size.get();
        let scan = self.limits.list_scan_rows();
        let listed = store::list::list(&self.pool, &filter, order, after, limit + 1, scan).await?;
        let mut tasks = listed.tasks;
        let next = if tasks.len() > limit as usize {
            tasks.truncate(limit as usize);
            tasks.last().map(|last| Cursor::after(last, order))
        } else {
            // A page that read as many tasks as it may ends short; the
            // next one starts after the last task it read.
            listed.read_to.map(|last| Cursor::after(&last, order))
        };
        Ok(Page { tasks, next })
    }

    /// Applies `patch` if `etag` (when given) is current. Closing a recurring
    /// task creates its next occurrence in the same transaction.
    pub(crate) async fn update(
        &self,
        caller: &Caller,
        id: Uuid,
        etag: Option<&str>,
        patch: TaskPatch,
        trace: TraceParent,
    ) -> Result<Task> {
        Ok(self.change(caller, id, etag, patch, trace).await?.0)
    }

    /// CompleteTask: the task, and the next occurrence its completion created.
    pub(crate) async fn complete(
        &self,
        caller: &Caller,
        id: Uuid,
        trace: TraceParent,
    ) -> Result<(Task, Option<Task>)> {
        let patch = TaskPatch {
            state: Some(TaskState::Completed),
            ..TaskPatch::default()
        };
        self.change(caller, id, None, patch, trace).await
    }

    /// One read-modify-write of a task: the row, its fire times, its event
    /// and, when it closes a recurring task, the next occurrence. A patch that
    /// changes nothing writes nothing.
    #[tracing::instrument(name = "sql transaction", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation = "change"))]
    async fn change(
        &self,
        caller: &Caller,
        id: Uuid,
        etag: Option<&str>,
        patch: TaskPatch,
        trace: TraceParent,
    ) -> Result<(Task, Option<Task>)> {
        let now = Utc::now();
        let mut tx = self
            .pool
            .begin()
            .await
            .context("cannot begin a transaction")?;
        let mut task = visible(caller, store::tasks::get_for_update(&mut tx, id).await?)?;
        if let Some(etag) = etag {
            if etag != task.etag() {
                return Err(Error::Aborted(format!(
                    "the task changed since it was read (etag {:?} is not current)",
                    etag.chars().take(32).collect::<String>()
                )));
            }
        }
        let before = task.state;
        let changed = task.apply(patch, now)?;
        if !changed.any {
            return Ok((task, None));
        }
        if changed.recurrence {
            super::recurrence::check_rule(&task, now).await?;
        }
        store::tasks::update(&mut tx, &task).await.map_err(|e| {
            if store::tasks::violates(&e, store::tasks::SERIES_DUE_TIME) {
                Error::FailedPrecondition(
                    "another occurrence of this series is due at that time".into(),
                )
            } else {
                e.into()
            }
        })?;
        if changed.schedule {
            let times = task.upcoming_fire_times(now);
            store::reminders::replace_rule_times(&mut tx, task.id, &times).await?;
        }
        if task.state.is_open() && (changed.schedule || !before.is_open()) {
            // Snoozes stay, so the earliest is the table's to say.
            task.next_reminder_time = store::reminders::next_fire_time(&mut tx, task.id).await?;
        }
        let kind = events::kind_of_change(before, task.state);
        let event = TaskEvent::new(kind, &task, now, trace.clone());
        store::outbox::enqueue(&mut tx, &[event.to_outbox()]).await?;
        let next = if closes(before, task.state) {
            super::recurrence::spawn_next(&mut tx, &mut task, now, &trace).await?
        } else {
            None
        };
        tx.commit().await.context("cannot commit")?;
        self.committed(true);
        if task.state == TaskState::Archived {
            self.limits.forget_count(&task.owner);
        }
        Ok((task, next))
    }

    #[tracing::instrument(name = "sql transaction", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation = "delete"))]
    pub(crate) async fn delete(&self, caller: &Caller, id: Uuid, trace: TraceParent) -> Result<()> {
        let now = Utc::now();
        let mut tx = self
            .pool
            .begin()
            .await
            .context("cannot begin a transaction")?;
        let task = visible(caller, store::tasks::get_for_update(&mut tx, id).await?)?;
        store::tasks::delete(&mut tx, task.id).await?;
        let event = TaskEvent::new(EventKind::Deleted, &task, now, trace);
        store::outbox::enqueue(&mut tx, &[event.to_outbox()]).await?;
        tx.commit().await.context("cannot commit")?;
        self.committed(true);
        self.limits.forget_count(&task.owner);
        Ok(())
    }

    /// Adds a one-off reminder at now + `duration` to an open task.
    #[tracing::instrument(name = "sql transaction", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation = "snooze"))]
    pub(crate) async fn snooze(
        &self,
        caller: &Caller,
        id: Uuid,
        duration: SnoozeDuration,
        trace: TraceParent,
    ) -> Result<Task> {
        let now = Utc::now();
        let mut tx = self
            .pool
            .begin()
            .await
            .context("cannot begin a transaction")?;
        let mut task = visible(caller, store::tasks::get_for_update(&mut tx, id).await?)?;
        if !task.state.is_open() {
            return Err(Error::FailedPrecondition(format!(
                "only a TASK_STATE_PENDING or TASK_STATE_IN_PROGRESS task can be snoozed, this one is {}",
                task.state
            )));
        }
        let fire_time = crate::domain::to_stored_precision(now + duration.get());
        if !store::reminders::insert_snooze(&mut tx, task.id, fire_time, MAX_SNOOZES).await? {
            return Err(Error::ResourceExhausted {
                message: format!(
                    "a task has at most {MAX_SNOOZES} snoozes pending; they are used up as they fire"
                ),
                retry_after: None,
            });
        }
        task.touch(now);
        task.next_reminder_time = Some(
            task.next_reminder_time
                .map_or(fire_time, |next| next.min(fire_time)),
        );
        store::tasks::update(&mut tx, &task).await?;
        let event = TaskEvent::new(EventKind::Updated, &task, now, trace);
        store::outbox::enqueue(&mut tx, &[event.to_outbox()]).await?;
        tx.commit().await.context("cannot commit")?;
        self.committed(true);
        Ok(task)
    }
}

/// Completing or cancelling ends an occurrence: its successor is due.
fn closes(before: TaskState, after: TaskState) -> bool {
    before != after && matches!(after, TaskState::Completed | TaskState::Cancelled)
}

/// Another user's task does not exist, as far as a `user` can tell.
fn visible(caller: &Caller, task: Option<Task>) -> Result<Task> {
    match task {
        Some(task) if caller.may_act_for(&task.owner) => Ok(task),
        _ => Err(Error::NotFound("task")),
    }
}

/// Whose tasks a listing covers: a user only its own; admin and service
/// anyone's, everyone's when no owner is named.
fn scope_for(caller: &Caller, requested: OwnerScope) -> Result<OwnerScope> {
    match requested {
        OwnerScope::One(owner) if caller.may_act_for(&owner) => Ok(OwnerScope::One(owner)),
        OwnerScope::One(_) => Err(Error::PermissionDenied(
            "only admin and service callers may list another owner's tasks".into(),
        )),
        OwnerScope::Everyone if caller.is_privileged() => Ok(OwnerScope::Everyone),
        OwnerScope::Everyone => Ok(OwnerScope::One(caller.user.clone())),
    }
}
