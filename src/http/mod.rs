//! The HTTP surface. Handlers translate between actix and the library; the
//! one place that maps errors to statuses is `problem`.

pub mod admin;
mod body;
mod check_json;
pub mod decisions;
pub mod diagnosis;
pub mod forge;
pub mod health;
pub mod lifecycle;
pub mod openapi;
pub mod operator;
mod paths;
pub mod policies;
pub mod problem;
pub mod request_span;
pub mod status;
pub mod ui;
pub mod webhook;

use std::sync::Arc;

use actix_web::web;
use sqlx::PgPool;

use crate::config::Config;

/// Shared by every handler.
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    /// Forge's keys and the Connect tenants, for authenticating senders.
    pub auth: crate::ingest::auth::Verifier,
    /// Where webhook requests queue their events for a shared transaction.
    pub committer: crate::ingest::GroupCommit,
    /// For work the reconciler does on behalf of a request (registration checks).
    pub reconciler: Arc<crate::reconcile::Reconciler>,
    /// Copies of checked sites' blocks, for batch checks.
    pub status_cache: Arc<crate::status_cache::StatusCache>,
    /// When `/metrics` last read its figures from the database.
    pub metrics_cache: crate::metrics::DbFiguresCache,
}

impl AppState {
    /// The retention policy that applies where a site sets none.
    pub fn defaults(&self) -> crate::store::policies::DefaultPolicy {
        crate::store::policies::DefaultPolicy {
            action: self.config.default_action,
            grace: self.config.default_grace,
            review: self.config.default_review,
        }
    }
}

/// Refuses a request list outside 1..=`max` entries, naming the field.
pub(crate) fn check_list_len(field: &str, len: usize, max: usize) -> Result<(), crate::Error> {
    if (1..=max).contains(&len) {
        Ok(())
    } else {
        Err(crate::Error::invalid(format!(
            "{field} must hold 1 to {max} entries, not {len}"
        )))
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
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
        )
        .route("/lifecycle/installed", web::post().to(lifecycle::installed))
        .route(
            "/lifecycle/uninstalled",
            web::post().to(lifecycle::uninstalled),
        )
        .route("/openapi.json", web::get().to(openapi::serve))
        .route("/admin/decisions", web::get().to(decisions::list))
        .route("/admin/decisions/{id}", web::get().to(decisions::show))
        .route(
            "/admin/decisions/{id}/{action}",
            web::post().to(decisions::act),
        )
        .route(
            "/admin/sites/{cloud_id}/unblock",
            web::post().to(decisions::unblock),
        )
        .route(
            "/admin/sites/{cloud_id}/policies",
            web::get().to(policies::get),
        )
        .route(
            "/admin/sites/{cloud_id}/policies",
            web::put().to(policies::put),
        )
        .service(
            web::scope("/v1/sites/{cloud_id}")
                .route("/objects/check", web::post().to(status::check))
                .route(
                    "/objects/{product}/{type}/{id}",
                    web::get().to(status::object_status),
                )
                .route(
                    "/objects/{product}/{type}/{id}/history",
                    web::get().to(status::history),
                )
                .route(
                    "/objects/{product}/{type}/{id}/diagnosis",
                    web::get().to(diagnosis::diagnosis),
                )
                .route("/observations", web::post().to(diagnosis::observe))
                .route("/blocks", web::get().to(status::blocks))
                .route("/containers", web::get().to(status::containers))
                .route("/summary", web::get().to(status::summary)),
        );
    // Last: the hot paths above are matched first.
    ui::routes(cfg);
}
