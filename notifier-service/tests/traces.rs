//! Traces: with OTEL_EXPORTER_OTLP_ENDPOINT pointing at an OTLP collector
//! stand-in (a tonic TraceService server in this test), one CreateTask
//! gives spans of both services in one trace: the RPC, its SQL
//! transaction, the outbox publish, the notifier's handling of the event;
//! the reminder's send is a trace of its own, linked to its due event's, with
//! the provider request inside it. A test binary of its
//! own: the tracing subscriber is global to the process.

#[allow(dead_code, unused_imports)]
#[path = "api/helpers.rs"]
mod helpers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    fn named(&self, name: &str) -> Vec<Span> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_create_task_gives_spans_of_both_services_in_one_trace() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(serving))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
    });
    // Before anything else of this process traces: the subscriber is global.
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"));
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    let _telemetry = todogenie_common::telemetry::init("info", "text", "todogenie-tests");
    assert!(todogenie_common::telemetry::exporting());

    let pair = helpers::spawn_end_to_end().await;
    pair.contact("alice", "+14155550123").await;
    let mut tasks = pair.tasks_client("alice").await;
    let task = helpers::task_due_at(
        &mut tasks,
        "Traced",
        Utc::now() + chrono::Duration::seconds(1),
    )
    .await;
    pair.wait_status(
        task.id.parse().unwrap(),
        "DELIVERED",
        Duration::from_secs(15),
    )
    .await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let rpc = collector.named("/todogenie.v1.TaskService/CreateTask");
        let same_trace = |name: &str| {
            collector
                .named(name)
                .iter()
                .any(|s| rpc.iter().any(|r| r.trace_id == s.trace_id))
        };
        // The reminder's send: its own trace, linked to the trace of the
        // due event that queued it; the provider request inside it.
        let consumed = collector.named("event consume");
        let sends = collector.named("reminder send");
        let linked = sends.iter().any(|send| {
            send.trace_id
                != send
                    .links
                    .first()
                    .map(|l| l.trace_id.clone())
                    .unwrap_or_default()
                && send
                    .links
                    .iter()
                    .any(|l| consumed.iter().any(|c| c.trace_id == l.trace_id))
        });
        let request_in_send = collector
            .named("provider request")
            .iter()
            .any(|r| sends.iter().any(|s| s.span_id == r.parent_span_id));
        let whole = !rpc.is_empty()
            && same_trace("sql transaction")
            && same_trace("outbox publish")
            && same_trace("event consume")
            && linked
            && request_in_send;
        if whole {
            // The notifier's span is a descendant, not a new trace: its
            // parent is the publish, whose parent is in the RPC's trace.
            let consume = collector.named("event consume");
            let publish = collector.named("outbox publish");
            assert!(consume
                .iter()
                .any(|c| publish.iter().any(|p| p.span_id == c.parent_span_id)));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "spans seen: {:?}",
            collector
                .spans
                .lock()
                .unwrap()
                .iter()
                .map(|(svc, s)| format!("{svc} {} {}", s.name, hex(&s.trace_id)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
