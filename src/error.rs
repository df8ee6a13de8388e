//! Errors of each layer: services say what went wrong; the web layer renders a JSON body or an HTML page.

use crate::domain::FieldError;

/// What a use case can fail with. `Unexpected` carries the cause for the log only.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("unauthorized")]
    Unauthorized,
    #[error("too many attempts")]
    TooManyAttempts,
    #[error("busy")]
    Busy,
    /// A request the product refuses now, with a stable code (e.g. `stale_button`).
    #[error("{code}: {message}")]
    Refused { code: &'static str, message: String },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ServiceError {
    pub fn invalid(error: FieldError) -> Self {
        Self::Invalid(vec![error])
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Unexpected(anyhow::Error::new(error).context("database error"))
    }
}

impl From<sea_orm::TransactionError<ServiceError>> for ServiceError {
    fn from(error: sea_orm::TransactionError<ServiceError>) -> Self {
        match error {
            sea_orm::TransactionError::Connection(error) => error.into(),
            sea_orm::TransactionError::Transaction(error) => error,
        }
    }
}

/// Logs an unexpected error with its whole cause chain; the client never sees it.
pub fn log_unexpected(error: &anyhow::Error) {
    tracing::error!(error = format!("{error:#}"), "unexpected error");
}
