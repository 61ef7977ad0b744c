//! task-service's gRPC API as the notifier calls it when a user presses Done
//! or Snooze, or writes a task in words: with a `service` token it signs itself (README, "Access"), a deadline on each
//! call, and a lazily connected, reconnecting channel.

use std::sync::Arc;
use std::time::Duration;

use todogenie_common::auth::{JwtKeys, Role, UserId};
use todogenie_proto::v1 as pb;
use todogenie_proto::v1::task_service_client::TaskServiceClient;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};

/// The `sub` of the notifier's own service token.
const SERVICE_SUBJECT: &str = "notifier-service";
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(crate) struct TaskClient {
    client: TaskServiceClient<Channel>,
    keys: Arc<JwtKeys>,
}

/// What a call to task-service came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CallResult {
    Done,
    /// The task is gone or cannot take the change: nothing to retry.
    Refused(String),
    /// task-service is unreachable or failed: try again later.
    Retry(String),
}

impl TaskClient {
    pub(crate) fn new(url: &str, keys: Arc<JwtKeys>) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| anyhow::anyhow!("TASK_SERVICE_URL {url:?} is not a URL: {e}"))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(CALL_TIMEOUT)
            .tcp_nodelay(true);
        Ok(Self {
            client: TaskServiceClient::new(endpoint.connect_lazy()),
            keys,
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let subject = UserId::parse(SERVICE_SUBJECT).expect("a valid constant subject");
        let token = self
            .keys
            .issue(&subject, Role::Service, Duration::from_secs(300));
        let mut request = Request::new(message);
        let value = format!("Bearer {token}")
            .parse()
            .expect("a JWT is ASCII metadata");
        request.metadata_mut().insert("authorization", value);
        request
    }

    pub(crate) async fn complete(&self, task_id: &str) -> CallResult {
        let request = self.request(pb::CompleteTaskRequest {
            id: task_id.to_owned(),
        });
        result(self.client.clone().complete_task(request).await)
    }

    pub(crate) async fn snooze(&self, task_id: &str, duration: Duration) -> CallResult {
        let request = self.request(pb::SnoozeTaskRequest {
            id: task_id.to_owned(),
            duration: Some(prost_types::Duration {
                seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
                nanos: 0,
            }),
        });
        result(self.client.clone().snooze_task(request).await)
    }

    /// Creates `task`; a repeated `request_id` from the same owner answers
    /// the task it made the first time.
    pub(crate) async fn create(
        &self,
        task: pb::Task,
        request_id: &str,
    ) -> Result<pb::Task, Failure> {
        let request = self.request(pb::CreateTaskRequest {
            task: Some(task),
            request_id: request_id.to_owned(),
        });
        outcome(self.client.clone().create_task(request).await)
    }

    pub(crate) async fn get(&self, task_id: &str) -> Result<pb::Task, Failure> {
        let request = self.request(pb::GetTaskRequest {
            id: task_id.to_owned(),
        });
        outcome(self.client.clone().get_task(request).await)
    }

    pub(crate) async fn delete(&self, task_id: &str) -> Result<(), Failure> {
        let request = self.request(pb::DeleteTaskRequest {
            id: task_id.to_owned(),
        });
        outcome(self.client.clone().delete_task(request).await).map(drop)
    }

    /// `owner`'s open tasks due before `before` (overdue included), earliest
    /// first, at most `limit`.
    pub(crate) async fn open_due_before(
        &self,
        owner: &str,
        before: chrono::DateTime<chrono::Utc>,
        limit: i32,
    ) -> Result<Vec<pb::Task>, Failure> {
        let request = self.request(pb::ListTasksRequest {
            page_size: limit,
            owner: owner.to_owned(),
            states: vec![
                pb::TaskState::Pending.into(),
                pb::TaskState::InProgress.into(),
            ],
            due_before: Some(prost_types::Timestamp {
                seconds: before.timestamp(),
                nanos: 0,
            }),
            order_by: "due_time".into(),
            ..Default::default()
        });
        outcome(self.client.clone().list_tasks(request).await).map(|r| r.tasks)
    }
}

/// Why a call did not succeed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The task is gone or cannot take the change: nothing to retry.
    Refused(String),
    /// task-service is unreachable or failed: try again later.
    Retry(String),
}

fn outcome<T>(answer: Result<tonic::Response<T>, tonic::Status>) -> Result<T, Failure> {
    answer.map(tonic::Response::into_inner).map_err(|status| {
        let what = format!("{:?}: {}", status.code(), status.message());
        match status.code() {
            Code::NotFound
            | Code::FailedPrecondition
            | Code::InvalidArgument
            | Code::PermissionDenied
            | Code::ResourceExhausted => Failure::Refused(what),
            _ => Failure::Retry(what),
        }
    })
}

fn result<T>(answer: Result<tonic::Response<T>, tonic::Status>) -> CallResult {
    match outcome(answer) {
        Ok(_) => CallResult::Done,
        Err(Failure::Refused(why)) => CallResult::Refused(why),
        Err(Failure::Retry(why)) => CallResult::Retry(why),
    }
}
