//! The one error type of both APIs and its single mapping to
//! `tonic::Status`: invalid input carries a `google.rpc.BadRequest` naming
//! each field; internal errors are logged with their whole chain and
//! answered with a fixed message, so no SQL text reaches a client.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::FieldViolations;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; each violation names its field.
    #[error("invalid argument: {0}")]
    Invalid(FieldViolations),
    /// It does not exist, or belongs to someone the caller may not see.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A rule forbids the change (e.g. ARCHIVED → PENDING).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The caller's etag is stale.
    #[error("aborted: {0}")]
    Aborted(String),
    /// A limit (named in the message) is reached; `retry_after` when
    /// waiting helps, sent as `google.rpc.RetryInfo`.
    #[error("resource exhausted: {message}")]
    ResourceExhausted {
        message: String,
        retry_after: Option<std::time::Duration>,
    },
    /// Anything that is our fault or the database's; the chain is logged.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<FieldViolations> for Error {
    fn from(violations: FieldViolations) -> Self {
        Error::Invalid(violations)
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(violations) => violations.into(),
            Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            Error::PermissionDenied(why) => Status::permission_denied(why),
            Error::FailedPrecondition(why) => Status::failed_precondition(why),
            Error::Aborted(why) => Status::aborted(why),
            Error::ResourceExhausted {
                message,
                retry_after,
            } => match retry_after {
                Some(delay) => Status::with_error_details(
                    Code::ResourceExhausted,
                    message,
                    ErrorDetails::with_retry_info(Some(delay)),
                ),
                None => Status::resource_exhausted(message),
            },
            Error::Unexpected(e) if cancelled_by_statement_timeout(&e) => {
                tracing::warn!(error = format!("{e:#}"), "statement timed out");
                Status::deadline_exceeded("the request took longer than the service allows")
            }
            Error::Unexpected(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// PostgreSQL cancelled the statement (`statement_timeout`, SQLSTATE 57014).
fn cancelled_by_statement_timeout(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::Database(e)) if e.code().as_deref() == Some("57014")
        )
    })
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
