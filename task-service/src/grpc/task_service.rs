//! `todogenie.v1.TaskService`: each handler reads the caller, parses the
//! request into domain values, calls `service::Tasks` and converts back.

use std::pin::Pin;

use prost::Message as _;
use sha2::{Digest, Sha256};
use todogenie_proto::v1 as pb;
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};

use super::convert::{
    duration_in, priority_in, state_in, task_id_in, task_out, task_patch_in, task_spec_in,
    timestamp_in,
};
use crate::auth::caller;
use crate::domain::{
    tag_fold, Cursor, FieldViolations, ListFilter, OrderBy, OwnerScope, PageSize, RequestId,
    SnoozeDuration, Tags, Task, UserId,
};
use crate::events::TraceParent;
use crate::metrics::observe;
use crate::page_token::PageTokens;
use crate::service::{IdempotencyKey, Limits, Tasks};
use crate::watch::WatchHub;

/// Longest `query` accepted, in characters.
const MAX_QUERY_CHARS: usize = 500;

#[derive(Clone)]
pub(crate) struct TaskApi {
    tasks: Tasks,
    page_tokens: PageTokens,
    watch: WatchHub,
    limits: Limits,
}

impl TaskApi {
    pub(crate) fn new(
        tasks: Tasks,
        page_tokens: PageTokens,
        watch: WatchHub,
        limits: Limits,
    ) -> Self {
        Self {
            tasks,
            page_tokens,
            watch,
            limits,
        }
    }
}

/// The W3C trace the call carried, or a new one.
fn trace<T>(request: &Request<T>) -> TraceParent {
    TraceParent::from_metadata(
        request
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok()),
    )
}

fn required<T>(field: &str, value: Option<T>) -> Result<T, FieldViolations> {
    value.ok_or_else(|| FieldViolations::single(field, "is required"))
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::TaskEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::task_service_server::TaskService for TaskApi {
    async fn create_task(
        &self,
        request: Request<pb::CreateTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        observe("CreateTask", async {
            let caller = caller(&request)?;
            self.limits.take_change(&caller)?;
            let trace = trace(&request);
            let request = request.into_inner();
            let task = required("task", request.task)?;
            let mut violations = FieldViolations::new();
            let key = if request.request_id.is_empty() {
                None
            } else {
                violations.check("request_id", RequestId::parse(&request.request_id))
            };
            let spec = match task_spec_in(&task, &caller.user) {
                Ok(spec) if violations.is_empty() => spec,
                Ok(_) => return Err(violations.into()),
                Err(more) => {
                    violations.extend(more);
                    return Err(violations.into());
                }
            };
            let key = key.map(|request_id| IdempotencyKey {
                request_id,
                // The same id with other content is refused, not replayed.
                request_hash: Sha256::digest(task.encode_to_vec()).into(),
            });
            let created = self.tasks.create(&caller, spec, key, trace).await?;
            Ok(Response::new(task_out(&created)))
        })
        .await
    }

    async fn get_task(
        &self,
        request: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        observe("GetTask", async {
            let caller = caller(&request)?;
            let id = task_id_in("id", &request.get_ref().id)?;
            let task = self.tasks.get(&caller, id).await?;
            Ok(Response::new(task_out(&task)))
        })
        .await
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        observe("ListTasks", async {
            let caller = caller(&request)?;
            let request = request.into_inner();
            let (filter, order, page_size) = list_request_in(&request)?;
            let fingerprint =
                PageTokens::fingerprint(&[filter.canonical().as_ref(), order.canonical().as_ref()]);
            let cursor = if request.page_token.is_empty() {
                None
            } else {
                let cursor: Cursor = self
                    .page_tokens
                    .decode(&request.page_token, &caller, &fingerprint)
                    .map_err(|e| FieldViolations::single("page_token", e))?;
                if !cursor.fits(&order) {
                    return Err(
                        FieldViolations::single("page_token", "does not fit order_by").into(),
                    );
                }
                Some(cursor)
            };
            let page = self
                .tasks
                .list(&caller, filter, &order, page_size, cursor.as_ref())
                .await?;
            let (tasks, next) = within_page_bytes(&page.tasks, &order, page.next);
            let next_page_token = next
                .map(|c| self.page_tokens.encode(&caller, &fingerprint, &c))
                .unwrap_or_default();
            Ok(Response::new(pb::ListTasksResponse {
                tasks,
                next_page_token,
            }))
        })
        .await
    }

    async fn update_task(
        &self,
        request: Request<pb::UpdateTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        observe("UpdateTask", async {
            let caller = caller(&request)?;
            self.limits.take_change(&caller)?;
            let trace = trace(&request);
            let request = request.into_inner();
            let task = required("task", request.task)?;
            let id = task_id_in("task.id", &task.id)?;
            let patch = task_patch_in(&task, request.update_mask.as_ref())?;
            let etag = (!task.etag.is_empty()).then_some(task.etag.as_str());
            let updated = self.tasks.update(&caller, id, etag, patch, trace).await?;
            Ok(Response::new(task_out(&updated)))
        })
        .await
    }

    async fn delete_task(
        &self,
        request: Request<pb::DeleteTaskRequest>,
    ) -> Result<Response<()>, Status> {
        observe("DeleteTask", async {
            let caller = caller(&request)?;
            self.limits.take_change(&caller)?;
            let id = task_id_in("id", &request.get_ref().id)?;
            self.tasks.delete(&caller, id, trace(&request)).await?;
            Ok(Response::new(()))
        })
        .await
    }

    async fn complete_task(
        &self,
        request: Request<pb::CompleteTaskRequest>,
    ) -> Result<Response<pb::CompleteTaskResponse>, Status> {
        observe("CompleteTask", async {
            let caller = caller(&request)?;
            self.limits.take_change(&caller)?;
            let id = task_id_in("id", &request.get_ref().id)?;
            let (task, next) = self.tasks.complete(&caller, id, trace(&request)).await?;
            Ok(Response::new(pb::CompleteTaskResponse {
                task: Some(task_out(&task)),
                next_occurrence: next.as_ref().map(task_out),
            }))
        })
        .await
    }

    async fn snooze_task(
        &self,
        request: Request<pb::SnoozeTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        observe("SnoozeTask", async {
            let caller = caller(&request)?;
            self.limits.take_change(&caller)?;
            let trace = trace(&request);
            let request = request.into_inner();
            let mut violations = FieldViolations::new();
            let id = task_id_in("id", &request.id).map_err(|v| {
                violations = v;
            });
            let duration = match request.duration.as_ref() {
                None => {
                    violations.add("duration", "is required");
                    None
                }
                Some(d) => {
                    violations.check("duration", duration_in(d).and_then(SnoozeDuration::parse))
                }
            };
            let (Ok(id), Some(duration)) = (id, duration) else {
                return Err(violations.into());
            };
            let task = self.tasks.snooze(&caller, id, duration, trace).await?;
            Ok(Response::new(task_out(&task)))
        })
        .await
    }

    type WatchTasksStream = EventStream;

    async fn watch_tasks(
        &self,
        request: Request<pb::WatchTasksRequest>,
    ) -> Result<Response<Self::WatchTasksStream>, Status> {
        observe("WatchTasks", async {
            let caller = caller(&request)?;
            let slot = self.limits.open_watch(&caller)?;
            // The slot lives as long as the stream: closing it frees the place.
            let stream = self.watch.subscribe(&caller).await?.map(move |event| {
                let _held = &slot;
                event
            });
            Ok(Response::new(Box::pin(stream) as EventStream))
        })
        .await
    }
}

/// Most bytes of tasks one ListTasks page holds (1,000 of the largest tasks,
/// ~45 KB each, would be ~46 MB), less room for the page token, so that the
/// whole answer fits a gRPC client's default 4 MiB receive limit.
pub(crate) const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024 - 4 * 1024;

/// The page's tasks as protobuf, cut where they would pass
/// [`MAX_PAGE_BYTES`] as encoded in the answer (at least one task, whatever
/// its size: one is at most ~45 KB); the next page then starts after the
/// last one kept.
fn within_page_bytes(
    tasks: &[Task],
    order: &OrderBy,
    next: Option<Cursor>,
) -> (Vec<pb::Task>, Option<Cursor>) {
    let mut out = Vec::with_capacity(tasks.len());
    let mut bytes = 0;
    for task in tasks {
        let encoded = task_out(task);
        let len = encoded.encoded_len();
        // Field tag, length prefix, message.
        bytes += 1 + prost::length_delimiter_len(len) + len;
        if bytes > MAX_PAGE_BYTES && !out.is_empty() {
            let last = &tasks[out.len() - 1];
            return (out, Some(Cursor::after(last, order)));
        }
        out.push(encoded);
    }
    (out, next)
}

/// Filter lists: each value at most once is enough (five states, three
/// priorities); more is one violation.
const MAX_STATES: usize = 5;
const MAX_PRIORITIES: usize = 3;

/// `true` when `len` is within `max`; otherwise records one violation for
/// the whole list, so a long list cannot make a long error.
fn within_limit(v: &mut FieldViolations, field: &str, len: usize, max: usize) -> bool {
    if len > max {
        v.add(field, format!("at most {max} values, got {len}"));
        return false;
    }
    true
}

/// ListTasks' filters, order and page size, every bad field named.
fn list_request_in(
    request: &pb::ListTasksRequest,
) -> Result<(ListFilter, OrderBy, PageSize), FieldViolations> {
    let mut v = FieldViolations::new();
    let page_size = v.check("page_size", PageSize::parse(request.page_size));
    let order = v.check("order_by", OrderBy::parse(&request.order_by));

    let query_chars = request.query.chars().count();
    if query_chars > MAX_QUERY_CHARS || request.query.contains('\0') {
        v.add(
            "query",
            format!("must be at most {MAX_QUERY_CHARS} characters without NUL"),
        );
    }
    let words: Vec<String> = request
        .query
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();

    let mut states = Vec::new();
    if within_limit(&mut v, "states", request.states.len(), MAX_STATES) {
        for (i, raw) in request.states.iter().enumerate() {
            match state_in(*raw) {
                Ok(Some(state)) => states.push(state),
                Ok(None) => v.add(format!("states[{i}]"), "must not be TASK_STATE_UNSPECIFIED"),
                Err(e) => v.add(format!("states[{i}]"), e),
            }
        }
    }
    let mut priorities = Vec::new();
    if within_limit(
        &mut v,
        "priorities",
        request.priorities.len(),
        MAX_PRIORITIES,
    ) {
        for (i, raw) in request.priorities.iter().enumerate() {
            match priority_in(*raw) {
                Ok(Some(priority)) => priorities.push(priority),
                Ok(None) => v.add(
                    format!("priorities[{i}]"),
                    "must not be PRIORITY_UNSPECIFIED",
                ),
                Err(e) => v.add(format!("priorities[{i}]"), e),
            }
        }
    }
    let mut tags = Vec::new();
    if within_limit(&mut v, "tags", request.tags.len(), Tags::MAX_COUNT) {
        for (i, raw) in request.tags.iter().enumerate() {
            let folded = tag_fold(raw);
            if folded.is_empty()
                || folded.chars().count() > Tags::MAX_CHARS
                || folded.contains('\0')
            {
                v.add(
                    format!("tags[{i}]"),
                    format!("must be 1 to {} characters after trimming", Tags::MAX_CHARS),
                );
            } else {
                tags.push(folded);
            }
        }
    }
    let due_after = request
        .due_after
        .as_ref()
        .and_then(|ts| v.check("due_after", timestamp_in(ts)));
    let due_before = request
        .due_before
        .as_ref()
        .and_then(|ts| v.check("due_before", timestamp_in(ts)));
    let scope = if request.owner.is_empty() {
        Some(OwnerScope::Everyone)
    } else {
        v.check("owner", UserId::parse(&request.owner))
            .map(OwnerScope::One)
    };

    match (page_size, order, scope) {
        (Some(page_size), Some(order), Some(scope)) if v.is_empty() => Ok((
            ListFilter {
                scope,
                words,
                states,
                priorities,
                tags,
                due_after,
                due_before,
            },
            order,
            page_size,
        )),
        _ => Err(v),
    }
}
