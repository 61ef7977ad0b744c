//! Where gRPC requests enter: NotifierService, and the conversions between
//! protobuf and the notifier's domain types.

pub(crate) mod convert;
mod notifier_service;

pub(crate) use notifier_service::NotifierApi;
