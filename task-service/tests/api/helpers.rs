//! task-service's own test helpers; starting the service, tokens, taps and
//! clean-up are the shared test kit's (`todogenie_test_kit`).

use todogenie_proto::v1 as pb;
use tonic::Status;

pub use todogenie_test_kit::{spawn_app, Client, TestApp, JWT_SECRET};

/// A task with just a title.
pub fn titled(title: &str) -> pb::Task {
    pb::Task {
        title: title.into(),
        ..pb::Task::default()
    }
}

pub fn create(task: pb::Task) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        task: Some(task),
        request_id: String::new(),
    }
}

pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// The fields named in a status's google.rpc.BadRequest detail.
pub fn bad_fields(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("INVALID_ARGUMENT carries a BadRequest detail")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// Every page of `request`, concatenated.
pub async fn all_pages(client: &mut Client, mut request: pb::ListTasksRequest) -> Vec<pb::Task> {
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let page = client
            .list_tasks(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(page.tasks.len() <= request.page_size.max(1) as usize || request.page_size == 0);
        tasks.extend(page.tasks);
        if page.next_page_token.is_empty() {
            return tasks;
        }
        request.page_token = page.next_page_token;
    }
    panic!("pagination did not end");
}
