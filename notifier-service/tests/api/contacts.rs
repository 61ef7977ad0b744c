//! NotifierService contacts and notifications: parsing, and who may see and
//! change what.

use todogenie_common::auth::Role;
use todogenie_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::spawn_pair;

fn violations(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_contact_round_trips_and_every_bad_field_is_named() {
    let pair = spawn_pair().await;
    let mut alice = pair.notifier_client("alice", Role::User).await;
    let saved = alice
        .upsert_contact(pb::UpsertContactRequest {
            confirmed: false,
            contact: Some(pb::Contact {
                phone_number: "+14155550123".into(),
                time_zone: "America/New_York".into(),
                locale: "en-US".into(),
                whatsapp_opt_in: true,
                quiet_hours: Some(pb::QuietHours {
                    start: "22:00".into(),
                    end: "07:30".into(),
                }),
                ..pb::Contact::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(saved.user_id, "alice");
    assert_eq!(saved.quiet_hours.as_ref().unwrap().end, "07:30");
    let got = alice
        .get_contact(pb::GetContactRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.phone_number, "+14155550123");
    assert_eq!(got.time_zone, "America/New_York");

    let bad = alice
        .upsert_contact(pb::UpsertContactRequest {
            confirmed: false,
            contact: Some(pb::Contact {
                phone_number: "0044 20 7946 0958".into(),
                time_zone: "Mars/Olympus".into(),
                locale: "not a tag!".into(),
                quiet_hours: Some(pb::QuietHours {
                    start: "7pm".into(),
                    end: "07:00".into(),
                }),
                ..pb::Contact::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(
        violations(&bad),
        [
            "contact.phone_number",
            "contact.time_zone",
            "contact.locale",
            "contact.quiet_hours"
        ]
    );
    let short = alice
        .upsert_contact(pb::UpsertContactRequest {
            confirmed: false,
            contact: Some(pb::Contact {
                phone_number: "+1415".into(),
                ..pb::Contact::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&short), ["contact.phone_number"]);

    alice
        .delete_contact(pb::DeleteContactRequest::default())
        .await
        .unwrap();
    let gone = alice
        .get_contact(pb::GetContactRequest::default())
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn another_users_contact_is_not_found_to_read_and_denied_to_write() {
    let pair = spawn_pair().await;
    pair.contact("alice", "+14155550123").await;
    let mut bob = pair.notifier_client("bob", Role::User).await;
    let read = bob
        .get_contact(pb::GetContactRequest {
            user_id: "alice".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(read.code(), Code::NotFound);
    let write = bob
        .upsert_contact(pb::UpsertContactRequest {
            confirmed: false,
            contact: Some(pb::Contact {
                user_id: "alice".into(),
                phone_number: "+14155550199".into(),
                ..pb::Contact::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(write.code(), Code::PermissionDenied);
    let delete = bob
        .delete_contact(pb::DeleteContactRequest {
            user_id: "alice".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(delete.code(), Code::PermissionDenied);
    let list = bob
        .list_notifications(pb::ListNotificationsRequest {
            user_id: "alice".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(list.code(), Code::PermissionDenied);

    let mut admin = pair.notifier_client("ops", Role::Admin).await;
    let read = admin
        .get_contact(pb::GetContactRequest {
            user_id: "alice".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.phone_number, "+14155550123", "unchanged by bob");

    let mut anonymous = todogenie_proto::v1::notifier_service_client::NotifierServiceClient::new(
        tonic::transport::Channel::from_shared(format!("http://{}", pair.notifier().grpc_addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let refused = anonymous
        .get_contact(pb::GetContactRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn health_and_reflection_answer_without_a_token_and_metrics_are_prometheus_text() {
    let pair = spawn_pair().await;
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", pair.notifier().grpc_addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
    assert_eq!(
        todogenie_test_kit::listed_services(channel.clone()).await,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "todogenie.v1.NotifierService",
        ],
        "reflection lists what this port serves, not task-service's API"
    );
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "todogenie.v1.NotifierService"] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            answer.status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            "{service:?}"
        );
    }
    pair.contact("alice", "+14155550123").await;
    let metrics = reqwest::get(format!("http://{}/metrics", pair.notifier().http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("rpc_requests_total{method=\"UpsertContact\",code=\"Ok\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("retry_queue_depth"));
    let healthz = reqwest::get(format!("http://{}/healthz", pair.notifier().http_addr))
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
}

#[tokio::test]
async fn the_notifier_answers_grpc_web_from_the_allowed_origin() {
    use prost::Message as _;
    use todogenie_test_kit::grpc_web::{self, Mode};

    let pair = crate::helpers::spawn_pair().await;
    pair.contact("alice", "+14155550123").await;
    let token = pair.token("alice", todogenie_common::auth::Role::User);
    for mode in [Mode::Binary, Mode::Text, Mode::Http2] {
        let answer = grpc_web::call(
            pair.notifier().grpc_addr,
            "/todogenie.v1.NotifierService/GetContact",
            &token,
            &todogenie_proto::v1::GetContactRequest::default(),
            mode,
        )
        .await;
        assert_eq!(answer.status.as_deref(), Some("0"), "{mode:?}: {answer:?}");
        let contact = todogenie_proto::v1::Contact::decode(answer.messages[0].as_slice()).unwrap();
        assert_eq!(contact.phone_number, "+14155550123");
        assert_eq!(
            answer.headers["access-control-allow-origin"],
            todogenie_test_kit::ALLOWED_ORIGIN
        );
    }
}
