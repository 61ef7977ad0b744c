//! What a gRPC port lists by server reflection, and that each listed service
//! describes, asked in both versions the contract names.

use tonic::transport::Channel;

/// The services one version of reflection lists, sorted (the two versions'
/// types are alike but distinct).
macro_rules! list_in {
    ($version:ident, $channel:expr) => {{
        use tonic_reflection::pb::$version::{
            server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
            ServerReflectionRequest,
        };
        let channel: Channel = $channel;
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let answer = ServerReflectionClient::new(channel.clone())
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect(concat!("reflection ", stringify!($version), " answers"))
            .into_inner()
            .message()
            .await
            .expect(concat!("reflection ", stringify!($version), "'s stream"))
            .expect("one answer");
        let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
            panic!("expected a service list, got {answer:?}");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        // Each listed service describes (what `grpcurl describe` asks): a
        // name listed but not registered answers NOT_FOUND.
        let asks = names.iter().map(|name| ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(name.clone())),
        });
        let mut answers = ServerReflectionClient::new(channel)
            .server_reflection_info(tokio_stream::iter(asks.collect::<Vec<_>>()))
            .await
            .expect(concat!("reflection ", stringify!($version), " describes"))
            .into_inner();
        for name in &names {
            let answer = answers
                .message()
                .await
                .expect(concat!("reflection ", stringify!($version), "'s stream"))
                .expect("one answer per symbol");
            match answer.message_response {
                Some(MessageResponse::FileDescriptorResponse(files))
                    if !files.file_descriptor_proto.is_empty() => {}
                other => panic!("{name} does not describe: {other:?}"),
            }
        }
        names
    }};
}

/// The services `channel`'s server lists, sorted, each checked to describe;
/// reflection v1 and v1alpha must list the same ones (grpcurl asks v1
/// first, older clients v1alpha).
pub async fn listed_services(channel: Channel) -> Vec<String> {
    let v1 = list_in!(v1, channel.clone());
    let v1alpha = list_in!(v1alpha, channel);
    assert_eq!(
        v1, v1alpha,
        "reflection v1 and v1alpha list the same services"
    );
    v1
}
