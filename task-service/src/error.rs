//! The one error type of task-service. Rules return it; `grpc::status` maps it
//! to a `tonic::Status` once, so no SQL text or internal detail reaches a client.

use crate::domain::FieldViolations;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; each violation names its field.
    #[error("invalid argument: {0}")]
    Invalid(FieldViolations),
    /// The task does not exist, or belongs to someone the caller may not see.
    #[error("task not found")]
    NotFound,
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A lifecycle rule forbids the change (e.g. ARCHIVED → PENDING).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The caller's etag is stale.
    #[error("aborted: {0}")]
    Aborted(String),
    /// Anything that is our fault or the database's; the chain is logged.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<FieldViolations> for Error {
    fn from(violations: FieldViolations) -> Self {
        Error::Invalid(violations)
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Unexpected(anyhow::Error::new(error))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
