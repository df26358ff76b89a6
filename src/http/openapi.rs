//! The OpenAPI 3.1 document, generated from the handlers' annotations.
//! `aarc openapi` prints it; `schemas/openapi.json` is a committed copy that a
//! test keeps identical.

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, decisions, diagnosis, forge, health, lifecycle, policies, status, webhook};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "forge_invocation_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "connect_jwt",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "JWT <Connect token>, or the jwt query parameter",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "aarc", description = "App Access Rule consumer for Atlassian Cloud apps"),
    paths(
        webhook::receive, forge::scheduled,
        status::object_status, status::check, status::blocks, status::containers,
        status::summary, status::history,
        diagnosis::observe, diagnosis::diagnosis,
        admin::put_tenant, admin::list_tenants, admin::delete_tenant,
        lifecycle::installed, lifecycle::uninstalled,
        decisions::list, decisions::show, decisions::act, decisions::unblock,
        policies::get, policies::put,
        health::healthz, health::readyz, health::metrics,
    ),
    modifiers(&Security),
)]
pub struct ApiDoc;

/// The document as served and committed (pretty JSON, trailing newline).
pub fn document() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}
