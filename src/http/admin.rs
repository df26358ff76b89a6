//! Operator routes for tenants: `PUT /admin/tenants/{clientKey}` (upsert),
//! `GET /admin/tenants`, `DELETE /admin/tenants/{clientKey}`.

use actix_web::{web, HttpResponse};
use secrecy::SecretString;
use serde::Deserialize;

use super::{operator::Operator, AppState};
use crate::domain::{ClientKey, CloudId};
use crate::store::tenants::{self, ConnectRegistration};
use crate::Error;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantBody {
    #[serde(alias = "shared_secret")]
    shared_secret: String,
    #[serde(alias = "base_url")]
    base_url: String,
    #[serde(alias = "cloud_id")]
    cloud_id: String,
    /// Connect lifecycle payloads repeat the key; if present it must agree.
    #[serde(default, alias = "client_key")]
    client_key: Option<String>,
}

/// Parses an operator's tenant fields into a registration, or says what is wrong.
pub fn registration(
    client_key: &str,
    shared_secret: &str,
    base_url: &str,
    cloud_id: &str,
) -> Result<ConnectRegistration, Error> {
    let client_key = ClientKey::parse(client_key).map_err(Error::InvalidRequest)?;
    if shared_secret.len() < 8 {
        return Err(Error::invalid("sharedSecret must be at least 8 characters"));
    }
    let base_url = url::Url::parse(base_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| Error::invalid(format!("baseUrl {base_url:?} is not an http(s) URL")))?;
    Ok(ConnectRegistration {
        client_key,
        shared_secret: SecretString::from(shared_secret.to_string()),
        base_url,
        cloud_id: CloudId::parse(cloud_id).map_err(Error::InvalidRequest)?,
    })
}

/// Adds or updates a Connect tenant.
#[utoipa::path(put, path = "/admin/tenants/{clientKey}", tag = "admin",
    params(("clientKey" = String, Path)), request_body = TenantBody,
    responses((status = 201), (status = 200), (status = 400), (status = 401)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(operator = %operator.name, client_key = %path))]
pub async fn put_tenant(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let body: TenantBody = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid(format!("the tenant body is invalid: {e}")))?;
    if body
        .client_key
        .as_deref()
        .is_some_and(|k| k != path.as_str())
    {
        return Err(Error::invalid(
            "clientKey in the body differs from the one in the path",
        ));
    }
    let reg = registration(&path, &body.shared_secret, &body.base_url, &body.cloud_id)?;
    register_connect(&state, &reg).await
}

/// Adds or updates a Connect tenant for an HTTP route: 201 when new (and
/// then asks Atlassian, in the background, whether content was already
/// blocked), 200 when updated; the answer never shows the secret.
pub async fn register_connect(
    state: &AppState,
    reg: &ConnectRegistration,
) -> Result<HttpResponse, Error> {
    let (tenant, created) = tenants::upsert_connect(&state.pool, reg).await?;
    if created {
        state
            .reconciler
            .check_site_soon(tenant.cloud_id.to_string());
    }
    tracing::info!(client_key = %tenant.key, created, "tenant registered");
    let view = serde_json::json!({
        "kind": "connect", "clientKey": tenant.key, "cloudId": tenant.cloud_id,
        "baseUrl": tenant.base_url, "installed": tenant.installed,
    });
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Lists tenants of both kinds, never their secrets.
#[utoipa::path(get, path = "/admin/tenants", tag = "admin",
    responses((status = 200), (status = 401)), security(("bearer" = [])))]
pub async fn list_tenants(_: Operator, state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let tenants = tenants::list(&state.pool).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "tenants": tenants })))
}

/// Retires a Connect tenant: its records stay, its events are refused.
#[utoipa::path(delete, path = "/admin/tenants/{clientKey}", tag = "admin",
    params(("clientKey" = String, Path)),
    responses((status = 204), (status = 401), (status = 404)), security(("bearer" = [])))]
pub async fn delete_tenant(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    if tenants::remove_connect(&state.pool, &path).await? {
        tracing::info!(operator = %operator.name, client_key = %path, "tenant removed");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Error::NotFound(format!(
            "no Connect tenant with clientKey {:?}",
            path.as_str()
        )))
    }
}
