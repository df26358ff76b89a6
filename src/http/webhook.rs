//! `POST /webhooks/atlassian`: the raw body is read (bounded), handed to
//! `ingest::receive`, and the answer is sent only after the commit.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::body::read_body;
use super::AppState;
use crate::ingest::{self, auth::RequestAuth, WebhookRequest};
use crate::Error;

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Receives App Access Rule events (CloudEvents structured, binary, batch, or plain JSON),
/// authenticated by a Connect JWT or a Forge Invocation Token. Answers only after COMMIT.
#[utoipa::path(post, path = "/webhooks/atlassian", tag = "receiver",
    request_body(content = serde_json::Value, description = "one event, a batch, or a Forge delivery",
        content_type = "application/cloudevents+json"),
    responses((status = 202, description = "new events committed"), (status = 200, description = "all duplicates"),
        (status = 400), (status = 401), (status = 403), (status = 413), (status = 415), (status = 503)),
    security(("connect_jwt" = []), ("forge_invocation_token" = [])))]
pub async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let started = std::time::Instant::now();
    let answer = receive_events(state, req, payload).await;
    let status = match &answer {
        Ok(response) => response.status(),
        Err(e) => actix_web::ResponseError::status_code(e),
    };
    let metrics = &crate::metrics::METRICS;
    metrics
        .ingest_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics
        .webhook_requests
        .get_or_create(&crate::metrics::StatusLabel {
            status: status.as_u16(),
        })
        .inc();
    answer
}

async fn receive_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let body = read_body(&req, payload, state.config.max_body_bytes).await?;
    let ce_headers = req
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("ce-"))
        .map(|(name, value)| {
            value
                .to_str()
                .map(|v| (name.as_str().to_string(), v.to_string()))
                .map_err(|_| Error::invalid(format!("header {name} is not visible ASCII")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let request = WebhookRequest {
        auth: RequestAuth {
            method: req.method().as_str(),
            path: req.path(),
            query: req.query_string(),
            authorization: header_str(&req, "authorization"),
            system_token: header_str(&req, "x-forge-oauth-system"),
        },
        content_type: header_str(&req, "content-type"),
        ce_headers,
        body: &body,
    };
    let receipt = ingest::receive(&state.pool, &state.auth, &state.committer, request).await?;
    if let Some(site) = &receipt.new_site {
        // A Forge tenant registered by its first token: were blocks made before?
        state.reconciler.check_site_soon(site.clone());
    }
    // Debug, not info: at thousands of events a second a line per request
    // was a fifth of aarc's ingest cost; `aarc_events_received_total` and
    // `aarc_webhook_requests_total` count them, and refusals are logged.
    tracing::debug!(
        events = receipt.events.len(),
        duplicate = receipt.all_duplicates(),
        "events committed"
    );
    Ok(if receipt.all_duplicates() {
        HttpResponse::Ok().json(json!({"status": "duplicate", "events": receipt.events}))
    } else {
        HttpResponse::Accepted().json(json!({"status": "accepted", "events": receipt.events}))
    })
}
