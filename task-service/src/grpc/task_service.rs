//! `todogenie.v1.TaskService`: each handler reads the caller, parses the
//! request into domain values, calls `service::Tasks` and converts back.

use std::pin::Pin;

use prost::Message as _;
use sha2::{Digest, Sha256};
use todogenie_proto::v1 as pb;
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};

use super::convert::{duration_in, task_id_in, task_out};
use super::list::{list_request_in, within_page_bytes};
use super::task_in::{task_patch_in, task_spec_in};
use crate::auth::caller;
use crate::domain::{Cursor, FieldViolations, RequestId, SnoozeDuration};
use crate::events::TraceParent;
use crate::metrics::observe;
use crate::page_token::PageTokens;
use crate::service::{IdempotencyKey, Limits, Tasks};
use crate::watch::WatchHub;

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

/// The trace the event of this call continues: the RPC's own span when
/// traces are exported, else the W3C trace the call carried, or a new one.
fn trace<T>(request: &Request<T>) -> TraceParent {
    let own = todogenie_common::telemetry::traceparent_of(&tracing::Span::current());
    if let Some(own) = own.as_deref().and_then(TraceParent::parse) {
        return own;
    }
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
