//! Running the service: health, reflection, HTTP endpoints, metrics and a
//! graceful stop.

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::helpers::{create, spawn_app, titled};

#[tokio::test]
async fn health_answers_serving_without_a_token() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel().await);
    for service in ["", "todogenie.v1.TaskService"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
}

#[tokio::test]
async fn reflection_lists_the_services_without_a_token() {
    let app = spawn_app().await;
    // Exactly what this port serves: not the notifier's API, which shares
    // the descriptor set (`grpcurl list` named it here until 2026-12-06).
    assert_eq!(
        todogenie_test_kit::listed_services(app.channel().await).await,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "todogenie.v1.TaskService",
        ]
    );
}

#[tokio::test]
async fn http_endpoints_report_health_readiness_and_metrics() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    alice.create_task(create(titled("Counted"))).await.unwrap();

    let http = reqwest::Client::new();
    let base = format!("http://{}", app.http_addr);
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.ready().await;
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"rpc_requests_total{method="CreateTask",code="Ok"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("rpc_duration_seconds_bucket"), "{metrics}");
    assert!(metrics.contains("db_pool_connections"), "{metrics}");
    assert!(metrics.contains("outbox_backlog"), "{metrics}");
    assert!(metrics.contains("outbox_oldest_age_seconds"), "{metrics}");
}

#[tokio::test]
async fn readiness_fails_when_the_database_goes_away() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/readyz", app.http_addr);
    app.ready().await;
    app.pool.close().await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 503);
}

#[tokio::test]
async fn a_stopped_server_finishes_cleanly_and_refuses_new_calls() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    alice
        .create_task(create(titled("Before stop")))
        .await
        .unwrap();
    let addr = app.grpc_addr;
    let started = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(10), app_stop(app))
        .await
        .expect("stops within 10 s")
        .expect("stops without error");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let refused = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    assert!(refused.is_err(), "the listener is closed");
}

async fn app_stop(app: crate::helpers::TestApp) -> anyhow::Result<()> {
    app.stop().await
}

#[tokio::test]
async fn an_index_left_invalid_by_an_interrupted_build_is_found() {
    use todogenie_common::db::invalid_indexes;
    let app = spawn_app().await;
    assert!(
        invalid_indexes(&app.pool).await.unwrap().is_empty(),
        "the migrations leave every index valid"
    );
    // What a replica killed during CREATE INDEX CONCURRENTLY leaves behind
    // (the migration's IF NOT EXISTS accepts it on the next start).
    sqlx::query(
        "UPDATE pg_index SET indisvalid = false \
         WHERE indexrelid = 'tasks_search_folded'::regclass",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        invalid_indexes(&app.pool).await.unwrap(),
        ["tasks_search_folded"]
    );
}

#[tokio::test]
async fn migrations_run_without_the_rpc_statement_timeout() {
    use todogenie_test_kit::{clean_up, postgres_base, unique_name};
    let db = unique_name("tg_test");
    let url = format!("{}/{db}", postgres_base());
    // A 1 ms RPC timeout cuts off any statement of the API pool that takes
    // longer; building the schema does (as an index on 10,000,000 tasks
    // outlasts the default 10 s).
    let connected =
        task_service::store::connect(&url, 2, 100, std::time::Duration::from_millis(1)).await;
    let pool = connected.expect("the migrations run to the end");
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(timeout, "1ms", "the API pool keeps the RPC's timeout");
    pool.close().await;
    clean_up(vec![db], None);
}
