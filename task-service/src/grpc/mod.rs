//! Where requests enter: the gRPC TaskService, its conversions between
//! protobuf and domain types, page tokens and the error mapping.

pub mod convert;
pub mod page_token;
mod status;
mod task_service;

pub use task_service::TaskApi;
