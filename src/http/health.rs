use actix_web::{web, HttpResponse};

use super::AppState;
use crate::Error;

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200)))]
/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200), (status = 503)))]
/// The database answers; otherwise 503 so load balancers route elsewhere.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    sqlx::query("SELECT 1")
        .execute(&state.pool)
        .await
        .map_err(|e| Error::Unavailable(format!("database unreachable: {e}")))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus metrics in OpenMetrics text", content_type = "application/openmetrics-text")))]
/// Prometheus metrics of this process (figures read from the database are
/// shared by every replica and refreshed at most every 10 s).
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let text = crate::metrics::METRICS
        .render(&[&state.pool, state.committer.pool()], &state.metrics_cache)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}
