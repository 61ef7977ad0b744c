//! Where requests enter: the gRPC TaskService, its conversions between
//! protobuf and domain types, and the error mapping.

pub mod convert;
mod status;
mod task_service;

pub use task_service::TaskApi;
