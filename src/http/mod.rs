//! The HTTP surface. Handlers translate between actix and the library; the
//! one place that maps errors to statuses is `problem`.

pub mod admin;
pub mod forge;
pub mod health;
pub mod operator;
pub mod problem;
pub mod webhook;

use std::sync::Arc;

use actix_web::web;
use sqlx::PgPool;

use crate::config::Config;
use crate::ingest::auth::forge::ForgeVerifier;

/// Shared by every handler.
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub forge: ForgeVerifier,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/webhooks/atlassian", web::post().to(webhook::receive))
        .route("/forge/scheduled", web::post().to(forge::scheduled))
        .route("/admin/tenants", web::get().to(admin::list_tenants))
        .route(
            "/admin/tenants/{client_key}",
            web::put().to(admin::put_tenant),
        )
        .route(
            "/admin/tenants/{client_key}",
            web::delete().to(admin::delete_tenant),
        );
}
