//! Connect lifecycle callbacks forwarded by the app (contract §3):
//! `POST /lifecycle/installed` registers or refreshes the tenant,
//! `POST /lifecycle/uninstalled` keeps its records but stops accepting its events.
//!
//! The app receives Atlassian's lifecycle call itself (it owns the descriptor);
//! it forwards the payload here with an operator token.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::admin::{register_connect, registration};
use super::{operator::Operator, AppState};
use crate::store::tenants;
use crate::Error;

/// The fields of a Connect lifecycle payload aarc uses; the rest is ignored.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LifecyclePayload {
    client_key: Option<String>,
    shared_secret: Option<String>,
    base_url: Option<String>,
    cloud_id: Option<String>,
    event_type: Option<String>,
}

fn parse(body: &[u8], expected_event: &str) -> Result<LifecyclePayload, Error> {
    let payload: LifecyclePayload = serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("the lifecycle payload is not valid JSON: {e}")))?;
    if let Some(event) = payload.event_type.as_deref() {
        if event != expected_event {
            return Err(Error::invalid(format!(
                "eventType {event:?} was posted to /lifecycle/{expected_event}"
            )));
        }
    }
    Ok(payload)
}

fn required<'a>(field: &'a Option<String>, name: &str) -> Result<&'a str, Error> {
    field
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::invalid(format!("{name} is missing from the lifecycle payload")))
}

/// Registers (or re-installs) the Connect tenant named by the payload.
#[utoipa::path(post, path = "/lifecycle/installed", tag = "admin",
    request_body = LifecyclePayload,
    responses((status = 201, description = "new tenant"), (status = 200, description = "tenant updated"),
              (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn installed(
    operator: Operator,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let p = parse(&body, "installed")?;
    let reg = registration(
        required(&p.client_key, "clientKey")?,
        required(&p.shared_secret, "sharedSecret")?,
        required(&p.base_url, "baseUrl")?,
        required(&p.cloud_id, "cloudId")?,
    )?;
    tracing::info!(operator = %operator.name, "installed lifecycle");
    register_connect(&state, &reg).await
}

/// Marks the tenant uninstalled: records stay, its events are refused from now on.
#[utoipa::path(post, path = "/lifecycle/uninstalled", tag = "admin",
    request_body = LifecyclePayload,
    responses((status = 200), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn uninstalled(
    operator: Operator,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let p = parse(&body, "uninstalled")?;
    let key = required(&p.client_key, "clientKey")?;
    if !tenants::remove_connect(&state.pool, key).await? {
        return Err(Error::NotFound(format!(
            "no Connect tenant with clientKey {key:?}"
        )));
    }
    tracing::info!(operator = %operator.name, client_key = %key, "uninstalled lifecycle");
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "kind": "connect", "clientKey": key, "installed": false,
    })))
}
