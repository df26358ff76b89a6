//! Signing in with an operator token, and out. A session is a random id in
//! an HttpOnly, SameSite=Strict cookie; the database keeps only its hash.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{
    error_page, finish, form_fields, render, same_origin, see_other, session, session_cookie,
};
use crate::http::operator::match_token;
use crate::http::AppState;
use crate::store::sessions;

pub async fn form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Ok(Some(_)) = session(&req, &state).await {
        return see_other("/ui");
    }
    render(StatusCode::OK, "sign_in.html", json!({"title": "Sign in"}))
        .unwrap_or_else(|e| error_page(&e, None))
}

pub async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(e) = same_origin(&req) {
        return error_page(&e, None);
    }
    let fields = form_fields(&body);
    let token = fields.get("token").map(|t| t.trim()).unwrap_or_default();
    let Some(name) = match_token(&state.config.operator_tokens, token) else {
        let error = if token.is_empty() {
            "Enter an operator token."
        } else {
            "That is not an operator token. Service tokens cannot sign in here."
        };
        return render(
            StatusCode::UNAUTHORIZED,
            "sign_in.html",
            json!({"title": "Sign in", "error": error}),
        )
        .unwrap_or_else(|e| error_page(&e, None));
    };
    match sessions::create(&state.pool, name).await {
        Ok(id) => {
            tracing::info!(operator = name, "signed in to the web page");
            HttpResponse::SeeOther()
                .insert_header(("location", "/ui"))
                .insert_header((
                    "set-cookie",
                    session_cookie(&req, &id, sessions::SESSION_HOURS * 3600),
                ))
                .finish()
        }
        Err(e) => error_page(&e, None),
    }
}

pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let signed_in = signed_in_or_redirect!(req, state);
    let result = async {
        same_origin(&req)?;
        signed_in.check_csrf(form_fields(&body).get("csrf").map(String::as_str))?;
        sessions::end(&state.pool, &signed_in.cookie).await?;
        Ok(HttpResponse::SeeOther()
            .insert_header(("location", "/ui/sign-in"))
            .insert_header(("set-cookie", session_cookie(&req, "", 0)))
            .finish())
    }
    .await;
    finish(result, &signed_in)
}
