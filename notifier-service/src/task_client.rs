//! task-service's gRPC API as the notifier calls it when a user presses Done
//! or Snooze: with a `service` token it signs itself (README, "Access"), a deadline on each
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
        outcome(self.client.clone().complete_task(request).await.map(drop))
    }

    pub(crate) async fn snooze(&self, task_id: &str, duration: Duration) -> CallResult {
        let request = self.request(pb::SnoozeTaskRequest {
            id: task_id.to_owned(),
            duration: Some(prost_types::Duration {
                seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
                nanos: 0,
            }),
        });
        outcome(self.client.clone().snooze_task(request).await.map(drop))
    }
}

fn outcome(result: Result<(), tonic::Status>) -> CallResult {
    match result {
        Ok(()) => CallResult::Done,
        Err(status) => match status.code() {
            Code::NotFound | Code::FailedPrecondition | Code::InvalidArgument => {
                CallResult::Refused(format!("{:?}: {}", status.code(), status.message()))
            }
            code => CallResult::Retry(format!("{code:?}: {}", status.message())),
        },
    }
}
