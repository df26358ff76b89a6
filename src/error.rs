//! The one error type of aarc. Every failure that reaches a caller is one of
//! these; `http::problem` renders it as `application/problem+json` and that is
//! the only place that knows about status codes.

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The request is malformed; the detail says exactly what is wrong.
    #[error("{0}")]
    InvalidRequest(String),
    /// Missing, invalid or expired credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed to do this (e.g. another tenant's site).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. a decision no longer pending).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A dependency (database, Atlassian's key server) is down: try again later.
    #[error("{0}")]
    Unavailable(String),
    /// The database rolled the transaction back to break a deadlock with a
    /// concurrent one (`store::is_contention`): nothing was written, and
    /// the same work again will most likely go through. Answered as
    /// `Unavailable` when it reaches a caller.
    #[error("{0}")]
    Contended(String),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::InvalidRequest(detail.into())
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized(detail.into())
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if crate::store::is_contention(&err) {
            Self::Contended(format!("database contention: {err}"))
        } else if crate::store::is_connection_error(&err) {
            Self::Unavailable(format!("database unavailable: {err}"))
        } else {
            Self::Internal(format!("database error: {err}"))
        }
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        match err {
            sqlx::migrate::MigrateError::Execute(e) => e.into(),
            other => Self::Internal(format!("migration failed: {other}")),
        }
    }
}
