//! Generated code for the `todogenie.v1` gRPC API, shared by task-service,
//! notifier-service and their clients, plus the descriptor set for reflection.

/// The `todogenie.v1` package: messages, enums, clients and servers.
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("todogenie.v1");
}

/// The encoded `FileDescriptorSet` of every TodoGenie proto file, for
/// `tonic-reflection`'s `register_encoded_file_descriptor_set`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/todogenie_descriptor.bin"));
