//! Where gRPC requests enter: NotifierService, and the conversions between
//! protobuf and the notifier's domain types.

pub mod convert;
mod notifier_service;

pub use notifier_service::NotifierApi;
