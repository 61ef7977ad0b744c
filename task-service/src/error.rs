//! The one error type of task-service, shared with the notifier
//! (`todogenie_common::error`, mapped to a `tonic::Status` there once), and
//! how the domain's refusals become it.

use crate::domain::Rejected;

pub(crate) use todogenie_common::error::{Error, Result};

impl From<Rejected> for Error {
    fn from(rejected: Rejected) -> Self {
        match rejected {
            Rejected::Invalid(violations) => Error::Invalid(violations),
            Rejected::FailedPrecondition(why) => Error::FailedPrecondition(why),
        }
    }
}
