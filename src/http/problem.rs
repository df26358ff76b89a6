//! Maps `crate::Error` to HTTP: status, stable problem type, `Retry-After`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::Error;

/// Seconds a client should wait before retrying when a dependency is down.
const RETRY_AFTER_SECS: &str = "5";

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
}

pub(crate) fn describe(err: &Error) -> (StatusCode, &'static str, &'static str) {
    match err {
        Error::InvalidRequest(_) => (
            StatusCode::BAD_REQUEST,
            "urn:aarc:problem:invalid-request",
            "Invalid request",
        ),
        Error::Unauthorized(_) => (
            StatusCode::UNAUTHORIZED,
            "urn:aarc:problem:unauthorized",
            "Unauthorized",
        ),
        Error::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            "urn:aarc:problem:forbidden",
            "Forbidden",
        ),
        Error::NotFound(_) => (
            StatusCode::NOT_FOUND,
            "urn:aarc:problem:not-found",
            "Not found",
        ),
        Error::Conflict(_) => (
            StatusCode::CONFLICT,
            "urn:aarc:problem:conflict",
            "Conflict",
        ),
        Error::PayloadTooLarge(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "urn:aarc:problem:payload-too-large",
            "Payload too large",
        ),
        Error::UnsupportedMediaType(_) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "urn:aarc:problem:unsupported-media-type",
            "Unsupported media type",
        ),
        Error::Unavailable(_) | Error::Contended(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "urn:aarc:problem:unavailable",
            "Service unavailable",
        ),
        Error::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "urn:aarc:problem:internal",
            "Internal error",
        ),
    }
}

/// What a caller may be told about an error.
pub(crate) fn public_detail(err: &Error) -> String {
    match err {
        // Internal details stay in the log, not in the answer.
        Error::Internal(_) => "an internal error occurred; see the server log".to_string(),
        other => other.to_string(),
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        describe(self).0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, kind, title) = describe(self);
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), detail = %self, "request refused");
        }
        let detail = public_detail(self);
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer, JWT"));
        }
        let body = serde_json::to_string(&Problem {
            kind,
            title,
            status: status.as_u16(),
            detail,
        })
        .unwrap_or_default();
        response.body(body)
    }
}
