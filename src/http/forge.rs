//! `POST /forge/scheduled`: a Forge scheduled trigger pointed here keeps fresh
//! app system tokens coming. Any body; the token is what matters.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{body::read_body, AppState};
use crate::ingest::auth::{self, Authenticated, RequestAuth};
use crate::store;
use crate::Error;

#[utoipa::path(post, path = "/forge/scheduled", tag = "receiver",
    responses((status = 200, description = "installation and system token recorded"), (status = 401)),
    security(("forge_invocation_token" = [])))]
pub async fn scheduled(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    read_body(&req, payload, state.config.max_body_bytes).await?;
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    let authorization = header("authorization");
    if !authorization.is_some_and(|a| a.trim_start().to_ascii_lowercase().starts_with("bearer ")) {
        return Err(Error::unauthorized(
            "this route takes a Forge invocation token: Authorization: Bearer <token>",
        ));
    }
    let request = RequestAuth {
        method: req.method().as_str(),
        path: req.path(),
        query: req.query_string(),
        authorization,
        system_token: header("x-forge-oauth-system"),
    };
    let Authenticated::Forge(installation) =
        auth::authenticate(&state.pool, &state.auth, &request).await?
    else {
        return Err(Error::unauthorized(
            "this route takes a Forge invocation token",
        ));
    };
    let mut tx = state.pool.begin().await?;
    let (tenant, created) = store::tenants::upsert_forge(&mut tx, &installation).await?;
    tx.commit().await?;
    if created {
        state
            .reconciler
            .check_site_soon(tenant.cloud_id.to_string());
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}
