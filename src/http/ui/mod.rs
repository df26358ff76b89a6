//! The operators' web page at `/ui`: server-rendered HTML (minijinja
//! templates compiled into the binary), no JavaScript.
//!
//! Sign-in takes an operator token and opens a session: a random id in an
//! HttpOnly, SameSite=Strict cookie scoped to `/ui`, its hash in the database.
//! Every form carries the session's anti-forgery token, and every POST must
//! come from this origin when the browser says where it comes from.

/// The page, or the sign-in form when nobody is signed in, or an error page.
macro_rules! signed_in_or_redirect {
    ($req:expr, $state:expr) => {
        match $crate::http::ui::session(&$req, &$state).await {
            Ok(Some(s)) => s,
            Ok(None) => return $crate::http::ui::see_other("/ui/sign-in"),
            Err(e) => return $crate::http::ui::error_page(&e, None),
        }
    };
}

mod lookup;
mod moment;
mod pages;
mod sign_in;

use std::sync::OnceLock;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::Environment;
use serde_json::Value;

use super::AppState;
use crate::store::sessions;
use crate::Error;

pub use moment::Moment;

const COOKIE: &str = "aarc_session";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui", web::get().to(pages::queue))
        .route("/ui/", web::get().to(pages::queue))
        .route("/ui/sign-in", web::get().to(sign_in::form))
        .route("/ui/sign-in", web::post().to(sign_in::sign_in))
        .route("/ui/sign-out", web::post().to(sign_in::sign_out))
        .route("/ui/decisions/{id}", web::get().to(pages::decision))
        .route("/ui/decisions/{id}", web::post().to(pages::act))
        .route("/ui/sites/{cloud_id}", web::get().to(lookup::site))
        .route("/ui/objects", web::get().to(lookup::object));
}

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("macros.html", include_str!("templates/macros.html")),
            ("sign_in.html", include_str!("templates/sign_in.html")),
            ("queue.html", include_str!("templates/queue.html")),
            ("decision.html", include_str!("templates/decision.html")),
            ("site.html", include_str!("templates/site.html")),
            ("object.html", include_str!("templates/object.html")),
            ("error.html", include_str!("templates/error.html")),
        ] {
            // The templates are part of the binary; a syntax error is a build
            // defect that the UI tests catch on the first page they open.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not parse");
            }
        }
        env
    })
}

/// Renders a page; `context` must be a JSON object.
fn render(status: StatusCode, template: &str, context: Value) -> Result<HttpResponse, Error> {
    let html = templates()
        .get_template(template)
        .and_then(|t| t.render(minijinja::Value::from_serialize(&context)))
        .map_err(|e| Error::Internal(format!("rendering {template}: {e:#}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-frame-options", "DENY"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ))
        .body(html))
}

/// An error as a page, with the status the API would give it.
fn error_page(err: &Error, session: Option<&SignedIn>) -> HttpResponse {
    let (status, _, title) = super::problem::describe(err);
    if status.is_server_error() {
        tracing::error!(error = %err, "page failed");
    }
    let mut context = serde_json::json!({
        "title": title, "heading": title, "detail": super::problem::public_detail(err),
    });
    if let Some(s) = session {
        s.add_to(&mut context);
    }
    render(status, "error.html", context).unwrap_or_else(|_| {
        HttpResponse::build(status)
            .content_type("text/plain; charset=utf-8")
            .body(super::problem::public_detail(err))
    })
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The operator behind a page request.
pub struct SignedIn {
    pub operator: String,
    csrf: String,
    cookie: String,
}

impl SignedIn {
    /// Adds what the layout needs (name, sign-out form token).
    fn add_to(&self, context: &mut Value) {
        context["operator"] = Value::from(self.operator.clone());
        context["csrf"] = Value::from(self.csrf.clone());
    }

    /// Refuses a form whose anti-forgery token is not this session's.
    fn check_csrf(&self, presented: Option<&str>) -> Result<(), Error> {
        let ok = presented
            .is_some_and(|p| super::operator::constant_time_eq(p.as_bytes(), self.csrf.as_bytes()));
        if ok {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "the form's anti-forgery token is missing or stale: reload the page and try again"
                    .into(),
            ))
        }
    }
}

fn cookie_value(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

/// The signed-in operator, if the request carries a live session.
async fn session(req: &HttpRequest, state: &AppState) -> Result<Option<SignedIn>, Error> {
    let Some(cookie) = cookie_value(req) else {
        return Ok(None);
    };
    Ok(sessions::find(&state.pool, &cookie)
        .await?
        .map(|s| SignedIn {
            operator: s.operator,
            csrf: s.csrf_token,
            cookie,
        }))
}

fn session_cookie(req: &HttpRequest, value: &str, max_age_secs: i64) -> String {
    let secure = if req.connection_info().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

/// A browser says where a form was posted from; refuse other origins.
fn same_origin(req: &HttpRequest) -> Result<(), Error> {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return Ok(());
    };
    let host = req.connection_info().host().to_string();
    let origin_host = url::Url::parse(origin).ok().map(|u| match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
        None => u.host_str().unwrap_or_default().to_string(),
    });
    if origin_host.as_deref() == Some(host.as_str()) {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "a form from {origin} cannot act on this page"
        )))
    }
}

/// A page's template context with what the layout needs.
fn page(session: &SignedIn, title: &str, mut context: Value) -> Value {
    context["title"] = Value::from(title);
    session.add_to(&mut context);
    context
}

/// The page, or the error as a page.
fn finish(result: Result<HttpResponse, Error>, session: &SignedIn) -> HttpResponse {
    result.unwrap_or_else(|e| error_page(&e, Some(session)))
}

/// The fields of a URL-encoded form.
fn form_fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}
