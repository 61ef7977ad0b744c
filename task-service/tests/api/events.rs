//! Events on RabbitMQ: one CloudEvent per committed change, none for a call
//! that changes nothing or a change that rolled back.

use prost_types::FieldMask;
use todogenie_proto::v1 as pb;
use tonic::Code;

use crate::helpers::{create, spawn_app, titled};

const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn traced<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("traceparent", TRACE.parse().unwrap());
    request
}

fn rename(id: &str, title: &str) -> pb::UpdateTaskRequest {
    pb::UpdateTaskRequest {
        task: Some(pb::Task {
            id: id.into(),
            title: title.into(),
            ..pb::Task::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["title".into()],
        }),
    }
}

#[tokio::test]
async fn each_committed_change_publishes_exactly_one_cloudevent() {
    let app = spawn_app().await;
    let tap = app.tap().await;
    let mut alice = app.user("alice").await;

    let task = alice
        .create_task(traced(create(titled("Report"))))
        .await
        .unwrap()
        .into_inner();
    alice
        .update_task(rename(&task.id, "Quarterly report"))
        .await
        .unwrap();
    alice
        .update_task(rename(&task.id, "Quarterly report"))
        .await
        .unwrap(); // no change
    alice
        .complete_task(pb::CompleteTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap();
    alice
        .complete_task(pb::CompleteTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap(); // no change
    let stale = pb::UpdateTaskRequest {
        task: Some(pb::Task {
            id: task.id.clone(),
            etag: "stale".into(),
            title: "x".into(),
            ..pb::Task::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["title".into()],
        }),
    };
    assert_eq!(
        alice.update_task(stale).await.unwrap_err().code(),
        Code::Aborted
    );
    alice
        .delete_task(pb::DeleteTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap();

    let mut events = app
        .exactly(&tap, 4, "created, updated, completed, deleted")
        .await;
    // Arrival order is not promised: two relay loops per process publish
    // their own claims side by side (CI of 2026-12-05 saw `task.deleted`
    // come before `task.completed`). The events carry their change's time.
    events.sort_by_key(|e| {
        chrono::DateTime::parse_from_rfc3339(e.body["time"].as_str().unwrap()).unwrap()
    });
    let keys: Vec<&str> = events.iter().map(|e| e.routing_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "task.created",
            "task.updated",
            "task.completed",
            "task.deleted"
        ]
    );

    let created = &events[0];
    assert_eq!(created.content_type, "application/cloudevents+json");
    assert_eq!(created.delivery_mode, 2, "persistent");
    assert_eq!(
        created.traceparent.as_deref(),
        Some(TRACE),
        "the caller's trace travels on"
    );
    let body = &created.body;
    assert_eq!(body["specversion"], "1.0");
    assert_eq!(
        body["id"],
        created.message_id.as_str(),
        "message_id is the event id"
    );
    assert!(uuid::Uuid::parse_str(&created.message_id).is_ok());
    assert_eq!(body["type"], "todogenie.task.created.v1");
    assert_eq!(body["source"], "/task-service");
    assert_eq!(body["subject"], task.id.as_str());
    assert_eq!(body["datacontenttype"], "application/json");
    assert!(chrono::DateTime::parse_from_rfc3339(body["time"].as_str().unwrap()).is_ok());
    assert_eq!(body["data"]["task"]["title"], "Report");
    assert_eq!(body["data"]["task"]["state"], "TASK_STATE_PENDING");
    assert_eq!(body["data"]["task"]["owner"], "alice");

    assert_eq!(events[1].body["data"]["task"]["title"], "Quarterly report");
    assert_eq!(events[2].body["type"], "todogenie.task.completed.v1");
    assert_eq!(
        events[2].body["data"]["task"]["state"],
        "TASK_STATE_COMPLETED"
    );
    assert_eq!(events[3].body["type"], "todogenie.task.deleted.v1");
    let traces: Vec<_> = events
        .iter()
        .map(|e| e.traceparent.clone().unwrap())
        .collect();
    assert!(
        traces[1..]
            .iter()
            .all(|t| t != TRACE && t.starts_with("00-")),
        "calls without a trace get new ones"
    );
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.message_id.clone()).collect();
    assert_eq!(ids.len(), 4, "every event has its own id");
    assert!(events.iter().all(|e| !e.redelivered));
}

#[tokio::test]
async fn a_change_that_rolls_back_publishes_nothing() {
    let app = spawn_app().await;
    let tap = app.tap().await;
    let mut alice = app.user("alice").await;
    let task = alice
        .create_task(create(titled("Steady")))
        .await
        .unwrap()
        .into_inner();
    app.exactly(&tap, 1, "the created event").await;

    // Make the database fail the transaction after the event row was
    // written, as a crash or constraint would.
    sqlx::query(
        "CREATE FUNCTION fail_rollback() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF convert_from(NEW.payload, 'UTF8') LIKE '%roll me back%' THEN RAISE EXCEPTION 'boom'; END IF; \
           RETURN NEW; END $$",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER fail_rollback AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION fail_rollback()")
        .execute(&app.pool)
        .await
        .unwrap();

    let status = alice
        .update_task(rename(&task.id, "roll me back"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(
        !status.message().contains("boom"),
        "no database text reaches the client"
    );
    let stored = alice
        .get_task(pb::GetTaskRequest {
            id: task.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.title, "Steady", "the change rolled back");

    alice
        .update_task(rename(&task.id, "Still steady"))
        .await
        .unwrap();
    let events = app.exactly(&tap, 2, "created and one update").await;
    // Either may arrive first: two relay loops publish side by side.
    let updates: Vec<_> = events
        .iter()
        .filter(|e| e.routing_key == "task.updated")
        .collect();
    assert_eq!(updates.len(), 1, "{events:?}");
    assert_eq!(updates[0].body["data"]["task"]["title"], "Still steady");
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(outbox, 0, "published events leave the outbox");
}

#[tokio::test]
async fn an_event_no_queue_takes_stays_in_the_outbox_until_one_does() {
    use std::sync::{atomic::AtomicBool, Arc};
    use task_service::relay::{Outcome, Publisher, Relay};

    let mut app = spawn_app().await;
    let db_url = format!("postgres://postgres@127.0.0.1:5432/{}", app.db_name);
    // Stop the service so that only the relay under test works the outbox,
    // and start from one event of our own.
    app.stop_keeping_database().await;
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    sqlx::query("DELETE FROM outbox")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO outbox (event_id, routing_key, payload, traceparent) \
                 VALUES (gen_random_uuid(), 'task.created', '{}'::bytea, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')")
        .execute(&pool)
        .await
        .unwrap();

    // An exchange nobody has bound a queue to: the broker returns the message.
    // Not the app's own, so deleted at the end here (the tap declares it).
    let exchange = format!("{}.unbound", app.exchange);
    let topology = todogenie_common::amqp::Topology::new(exchange.clone(), format!("{exchange}.q"));
    let wake =
        task_service::wake::Wake::start(pool.clone(), tokio_util::sync::CancellationToken::new());
    let relay = Relay::new(
        pool.clone(),
        todogenie_test_kit::AMQP_URL.into(),
        topology.clone(),
        Arc::new(AtomicBool::new(true)),
        wake,
    );
    let publisher = Publisher::connect(todogenie_test_kit::AMQP_URL, &exchange)
        .await
        .unwrap();
    assert_eq!(
        relay.run_once(&publisher).await.unwrap(),
        Outcome::Published(0)
    );
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM outbox")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, 1);
    assert!(error.unwrap_or_default().contains("unroutable"));
    assert_eq!(
        relay.run_once(&publisher).await.unwrap(),
        Outcome::Idle,
        "held back for a retry"
    );

    // A queue appears; once the retry is due, the event goes out and leaves.
    let tap = todogenie_test_kit::EventTap::start(&exchange).await;
    sqlx::query("UPDATE outbox SET not_before = now()")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        relay.run_once(&publisher).await.unwrap(),
        Outcome::Published(1)
    );
    // Confirmed, so in the tap's queue: the barrier shows it and that it came once.
    tap.drain(std::time::Duration::from_secs(10)).await;
    assert_eq!(tap.all().len(), 1, "the kept event, once");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    publisher.close().await;
    pool.close().await;
    drop(tap);
    todogenie_test_kit::delete_topology(todogenie_test_kit::AMQP_URL, &topology).await;
}

#[tokio::test]
async fn events_published_before_the_notifier_ever_started_wait_in_its_queue() {
    // task-service declares the notifier's queue itself: nothing it publishes
    // before the notifier's first start is lost.
    let app = spawn_app().await;
    app.ready().await;
    let mut alice = app.user("alice").await;
    alice
        .create_task(create(titled("Before the notifier")))
        .await
        .unwrap();
    let queue = app.topology.queue.clone();
    todogenie_test_kit::poll(
        std::time::Duration::from_secs(10),
        "task.created in the notifier's queue",
        || {
            let queue = queue.clone();
            async move { todogenie_test_kit::queue_depth(&queue).await == 1 }
        },
    )
    .await;
}
