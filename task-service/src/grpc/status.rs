//! The single mapping from [`Error`] to `tonic::Status`. Invalid input carries
//! a `google.rpc.BadRequest` naming each field; internal errors are logged
//! with their whole chain and answered with a fixed message.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::domain::FieldViolations;
use crate::error::Error;

impl From<FieldViolations> for Status {
    fn from(violations: FieldViolations) -> Self {
        let details: Vec<FieldViolation> = violations
            .iter()
            .map(|(field, description)| FieldViolation::new(field, description))
            .collect();
        Status::with_error_details(
            Code::InvalidArgument,
            format!("invalid argument: {violations}"),
            ErrorDetails::with_bad_request(details),
        )
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(violations) => violations.into(),
            Error::NotFound => Status::not_found("task not found"),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            Error::Aborted(message) => Status::aborted(message),
            Error::Unexpected(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                Status::internal("internal error")
            }
        }
    }
}
