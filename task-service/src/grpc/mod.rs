//! Where requests enter: the gRPC TaskService and its conversions between
//! protobuf and domain types (errors map to `Status` in
//! `todogenie_common::error`).

pub(crate) mod convert;
mod list;
mod task_in;
mod task_service;

pub(crate) use task_service::TaskApi;
