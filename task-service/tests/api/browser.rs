//! Browsers: gRPC-Web on the gRPC port (binary and text, HTTP/1.1 and
//! HTTP/2, WatchTasks streaming) and CORS for the configured origins only.

use std::time::Duration;

use prost::Message as _;
use task_service::auth::Role;
use todogenie_proto::v1 as pb;
use todogenie_test_kit::grpc_web::{self, Mode};
use todogenie_test_kit::ALLOWED_ORIGIN;

use crate::helpers::{create, spawn_app, titled};

const CREATE: &str = "/todogenie.v1.TaskService/CreateTask";
const GET: &str = "/todogenie.v1.TaskService/GetTask";

#[tokio::test]
async fn every_grpc_web_form_creates_and_reads_tasks_and_errors_keep_their_code() {
    let app = spawn_app().await;
    let token = app.token("alice", Role::User);
    for mode in [Mode::Binary, Mode::Text, Mode::Http2] {
        let created = grpc_web::call(
            app.grpc_addr,
            CREATE,
            &token,
            &create(titled("From a browser")),
            mode,
        )
        .await;
        assert_eq!(
            created.status.as_deref(),
            Some("0"),
            "{mode:?}: {created:?}"
        );
        let task = pb::Task::decode(created.messages[0].as_slice()).unwrap();
        assert_eq!(
            (task.title.as_str(), task.owner.as_str()),
            ("From a browser", "alice")
        );
        let read = grpc_web::call(
            app.grpc_addr,
            GET,
            &token,
            &pb::GetTaskRequest {
                id: task.id.clone(),
            },
            mode,
        )
        .await;
        assert_eq!(
            pb::Task::decode(read.messages[0].as_slice()).unwrap().id,
            task.id,
            "{mode:?}"
        );
        // CORS answers the allowed origin and lets the page read the status.
        assert_eq!(
            read.headers["access-control-allow-origin"], ALLOWED_ORIGIN,
            "{mode:?}"
        );
        let exposed = read.headers["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            exposed.contains("grpc-status") && exposed.contains("grpc-message"),
            "{exposed}"
        );
    }
    // A user's mistake is INVALID_ARGUMENT (3), a bad token UNAUTHENTICATED (16).
    let bad = grpc_web::call(
        app.grpc_addr,
        CREATE,
        &token,
        &create(titled("")),
        Mode::Binary,
    )
    .await;
    assert_eq!(bad.status.as_deref(), Some("3"), "{bad:?}");
    let stranger = grpc_web::call(
        app.grpc_addr,
        GET,
        "not-a-jwt",
        &pb::GetTaskRequest::default(),
        Mode::Text,
    )
    .await;
    assert_eq!(stranger.status.as_deref(), Some("16"), "{stranger:?}");
}

#[tokio::test]
async fn watch_tasks_streams_to_a_grpc_web_client() {
    let app = spawn_app().await;
    app.ready().await;
    let token = app.token("alice", Role::User);
    let addr = app.grpc_addr;
    let watching = tokio::spawn(async move {
        grpc_web::stream_until(
            addr,
            "/todogenie.v1.TaskService/WatchTasks",
            &token,
            &pb::WatchTasksRequest::default(),
            |messages| {
                messages.iter().any(|m| {
                    pb::TaskEvent::decode(m.as_slice())
                        .is_ok_and(|e| e.task.is_some_and(|t| t.title == "Seen live"))
                })
            },
        )
        .await
    });
    // The stream may not be open yet when a task is made: make one until
    // the page sees one (each is a new task; none may be missed after).
    let mut alice = app.user("alice").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !watching.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no event reached the gRPC-Web stream"
        );
        alice
            .create_task(create(titled("Seen live")))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = watching.await.unwrap();
    assert!(!seen.is_empty());
}

#[tokio::test]
async fn cors_preflights_pass_for_the_listed_origin_only() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        let url = format!("http://{}{CREATE}", app.grpc_addr);
        async move {
            reqwest::Client::new()
                .request(reqwest::Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout",
                )
                .send()
                .await
                .unwrap()
        }
    };
    let allowed = preflight(ALLOWED_ORIGIN).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        ALLOWED_ORIGIN
    );
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    for name in [
        "authorization",
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
    ] {
        assert!(headers.contains(name), "{name} in {headers}");
    }
    let other = preflight("http://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
