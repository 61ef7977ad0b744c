//! The one error type of the notifier's API, shared with task-service
//! (`todogenie_common::error`, which maps it to a `tonic::Status` once).

pub(crate) use todogenie_common::error::{Error, Result};
