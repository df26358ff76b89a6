//! The span every request runs in. tracing-actix-web's default span carries
//! a dozen OpenTelemetry fields, each formatted into text when the span is
//! created — on the webhook path that was a tenth of aarc's CPU. This one
//! keeps what an operator reads in a log line: the request id (also sent
//! back as `x-request-id`), method and route. Not the status: a log line is
//! written before the request ends (a refusal's line carries its status
//! itself), so recording it at the end was work no line ever showed.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::HttpMessage;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request.extensions().get::<RequestId>().copied();
        let route = request.match_pattern();
        tracing::info_span!(
            "request",
            request_id = tracing::field::display(DisplayOrEmpty(request_id)),
            method = request.method().as_str(),
            route = route.as_deref().unwrap_or(request.path()),
        )
    }

    fn on_request_end<B: MessageBody>(
        _span: Span,
        _outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
    }
}

/// A request id, or nothing when the middleware did not set one.
struct DisplayOrEmpty(Option<RequestId>);

impl std::fmt::Display for DisplayOrEmpty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(id) => write!(f, "{id}"),
            None => Ok(()),
        }
    }
}
