//! The pages of `/ui`. Each handler loads what its page shows, turns it into
//! a plain JSON context (times as `Moment`s) and renders one template.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::{json, Value};

use super::{
    error_page, form_fields, render, same_origin, see_other, session, session_cookie, Moment,
    SignedIn,
};
use crate::domain::{CloudId, ObjectRef, Product};
use crate::http::operator::match_token;
use crate::http::AppState;
use crate::store::decisions::{self, Action, DecisionView};
use crate::store::{policies, sessions, status};
use crate::Error;

/// The page, or the sign-in form when nobody is signed in, or an error page.
macro_rules! signed_in_or_redirect {
    ($req:expr, $state:expr) => {
        match session(&$req, &$state).await {
            Ok(Some(s)) => s,
            Ok(None) => return see_other("/ui/sign-in"),
            Err(e) => return error_page(&e, None),
        }
    };
}

fn decision_json(d: &DecisionView) -> Value {
    let now = Utc::now();
    let mut v = serde_json::to_value(d).unwrap_or_default();
    v["created"] = json!(Moment::new(d.created_at, now));
    v["updated"] = json!(Moment::new(d.updated_at, now));
    v
}

fn page(session: &SignedIn, title: &str, mut context: Value) -> Value {
    context["title"] = json!(title);
    session.add_to(&mut context);
    context
}

fn finish(result: Result<HttpResponse, Error>, session: &SignedIn) -> HttpResponse {
    result.unwrap_or_else(|e| error_page(&e, Some(session)))
}

pub async fn sign_in_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
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

pub async fn queue(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let signed_in = signed_in_or_redirect!(req, state);
    let result = async {
        let pending = decisions::list(&state.pool, Some("pending_review"), None, 500, None).await?;
        let held = decisions::list(&state.pool, Some("held"), None, 500, None).await?;
        let recent: Vec<DecisionView> = decisions::list(&state.pool, None, None, 50, None)
            .await?
            .into_iter()
            .filter(|d| d.state != "pending_review" && d.state != "held")
            .take(20)
            .collect();
        // Oldest first: the decision that has waited longest is reviewed first.
        let mut waiting: Vec<&DecisionView> = pending.iter().chain(held.iter()).collect();
        waiting.sort_by_key(|d| d.created_at);
        let counts: Vec<Value> = decisions::counts(&state.pool)
            .await?
            .into_iter()
            .map(|(state, n)| json!({"state": state, "n": n}))
            .collect();
        render(
            StatusCode::OK,
            "queue.html",
            page(
                &signed_in,
                "Review queue",
                json!({
                    "counts": counts,
                    "pending": waiting.into_iter().map(decision_json).collect::<Vec<_>>(),
                    "recent": recent.iter().map(decision_json).collect::<Vec<_>>(),
                }),
            ),
        )
    }
    .await;
    finish(result, &signed_in)
}

const OBJECTS_SHOWN: i64 = 200;

async fn decision_page(
    state: &AppState,
    signed_in: &SignedIn,
    id: uuid::Uuid,
    status: StatusCode,
    flash: Option<Value>,
) -> Result<HttpResponse, Error> {
    let decision = decisions::get(&state.pool, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("there is no decision {id}")))?;
    let objects = decisions::objects(&state.pool, id, OBJECTS_SHOWN, None).await?;
    let audit = decisions::audit_for_decision(&state.pool, id).await?;
    let now = Utc::now();
    let objects: Vec<Value> = objects
        .iter()
        .map(|o| {
            json!({"product": o.product, "type": o.object_type, "id": o.id, "state": o.state,
                   "since": Moment::new(o.blocked_since, now), "events": o.event_ids})
        })
        .collect();
    let audit: Vec<Value> = audit
        .iter()
        .map(|a| {
            json!({"when": Moment::new(a.at, now), "actor": a.actor, "action": a.action,
                   "reason": a.reason})
        })
        .collect();
    render(
        status,
        "decision.html",
        page(
            signed_in,
            "Decision",
            json!({
                "d": decision_json(&decision),
                "actionable": decision.state == "pending_review" || decision.state == "held",
                "more": objects.len() as i64 == OBJECTS_SHOWN && decision.object_count as i64 > OBJECTS_SHOWN,
                "objects": objects,
                "audit": audit,
                "flash": flash,
            }),
        ),
    )
}

fn decision_id(raw: &str) -> Result<uuid::Uuid, Error> {
    raw.parse()
        .map_err(|_| Error::NotFound(format!("{raw:?} is not a decision id")))
}

pub async fn decision(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let signed_in = signed_in_or_redirect!(req, state);
    let result = async {
        let id = decision_id(&path)?;
        // After an action the page is reloaded with ?done=<action> (post/redirect/get).
        let flash = query.get("done").map(|done| {
            json!({"kind": "ok", "text": format!("Recorded: {done}, by {}.", signed_in.operator)})
        });
        decision_page(&state, &signed_in, id, StatusCode::OK, flash).await
    }
    .await;
    finish(result, &signed_in)
}

pub async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let signed_in = signed_in_or_redirect!(req, state);
    let result = async {
        same_origin(&req)?;
        let fields = form_fields(&body);
        signed_in.check_csrf(fields.get("csrf").map(String::as_str))?;
        let id = decision_id(&path)?;
        let action = Action::parse(fields.get("action").map(String::as_str).unwrap_or(""))?;
        let reason = fields.get("reason").map(|r| r.trim()).unwrap_or("");
        let refused = |status: StatusCode, text: String| {
            decision_page(
                &state,
                &signed_in,
                id,
                status,
                Some(json!({"kind": "error", "text": text})),
            )
        };
        if reason.is_empty() {
            return refused(
                StatusCode::BAD_REQUEST,
                "Say why: a reason is required, and it is kept in the audit trail.".into(),
            )
            .await;
        }
        match decisions::act(
            &state.pool,
            id,
            action,
            &signed_in.operator,
            reason,
            Utc::now(),
        )
        .await
        {
            Ok(_) => {
                tracing::info!(operator = %signed_in.operator, decision = %id, action = action.as_str(), "decision acted on (web page)");
                Ok(see_other(&format!(
                    "/ui/decisions/{id}?done={}",
                    action.as_str()
                )))
            }
            Err(Error::Conflict(text)) => refused(StatusCode::CONFLICT, text).await,
            Err(e) => Err(e),
        }
    }
    .await;
    finish(result, &signed_in)
}

pub async fn site(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let signed_in = signed_in_or_redirect!(req, state);
    let result = async {
        let site = CloudId::parse(&path).map_err(Error::NotFound)?;
        let now = Utc::now();
        let defaults = state.defaults();
        let (counts, _) = status::summary(&state.pool, &site).await?;
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        let query = status::BlockQuery {
            product: None,
            object_type: None,
            state: None,
            limit: 100,
            after: None,
        };
        let blocks = status::blocks(&state.pool, &defaults, &site, &query).await?;
        let containers = status::containers(&state.pool, &site).await?;
        let policies = policies::list(&state.pool, &site).await?;
        render(
            StatusCode::OK,
            "site.html",
            page(
                &signed_in,
                &format!("Site {}", site.as_str()),
                json!({
                    "site": site.as_str(),
                    "total": total,
                    "counts": counts.iter().map(|(s, n)| json!({"state": s.as_str(), "n": n})).collect::<Vec<_>>(),
                    "more": blocks.len() == 100,
                    "blocks": blocks.iter().map(|b| json!({
                        "product": b.object.product.as_str(), "type": b.object.object_type,
                        "id": b.object.id, "state": b.state.as_str(),
                        "since": Moment::maybe(b.blocked_since, now),
                        "purge_after": Moment::maybe(b.purge_after, now),
                    })).collect::<Vec<_>>(),
                    "containers": containers.iter().map(|c| json!({
                        "product": c.product, "id": c.id,
                        "since": Moment::new(c.blocked_since, now),
                        "last": Moment::new(c.last_event_at, now),
                    })).collect::<Vec<_>>(),
                    "policies": policies.iter().map(|p| json!({
                        "product": p.product, "type": p.object_type, "action": p.action,
                        "grace": p.grace, "review": p.review, "updated_by": p.updated_by,
                        "updated": Moment::new(p.updated_at, now),
                    })).collect::<Vec<_>>(),
                    "default": {"action": defaults.action.to_string(),
                                "grace": defaults.grace.to_string(),
                                "review": defaults.review.to_string()},
                }),
            ),
        )
    }
    .await;
    finish(result, &signed_in)
}

/// One line that says what a history entry was about.
fn history_detail(h: &status::HistoryEntry) -> String {
    if let Some(o) = &h.observation {
        let text = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
        let mut line = format!(
            "{} saw {} on a {} by the {} → {} (rule {})",
            text("reported_by"),
            o.get("status").and_then(Value::as_i64).unwrap_or(0),
            text("operation"),
            text("actor"),
            text("verdict"),
            text("rule"),
        );
        if let Some(effect) = o.get("effect").and_then(Value::as_str) {
            line.push_str(&format!("; {}", effect.replace('_', " ")));
        }
        return line;
    }
    if h.kind == "event" {
        return format!(
            "{} {} (event {}, {} mode)",
            if h.event_type.as_deref().unwrap_or("").contains(":blocked:") {
                "blocked by"
            } else {
                "named by"
            },
            h.event_type.as_deref().unwrap_or("an event"),
            h.event_id.as_deref().unwrap_or("?"),
            h.mode.as_deref().unwrap_or("?"),
        );
    }
    let Some(cause) = &h.cause else {
        return String::new();
    };
    let text = |k: &str| cause.get(k).and_then(Value::as_str);
    let mut parts = vec![text("cause").unwrap_or("reconciler").to_string()];
    if let Some(actor) = text("actor") {
        parts.push(format!("by {actor}"));
    }
    if let Some(action) = text("action") {
        parts.push(format!("({action})"));
    }
    if let Some(reason) = text("reason") {
        parts.push(format!("— “{reason}”"));
    }
    parts.join(" ")
}

pub async fn object(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let signed_in = signed_in_or_redirect!(req, state);
    let q = json!({
        "site": query.get("site"), "product": query.get("product"),
        "type": query.get("type"), "id": query.get("id"),
    });
    let lookup = async {
        let (Some(site), Some(product), Some(object_type), Some(id)) = (
            query.get("site"),
            query.get("product"),
            query.get("type"),
            query.get("id"),
        ) else {
            return Ok(None);
        };
        let site = CloudId::parse(site.trim()).map_err(Error::InvalidRequest)?;
        let product = Product::parse(product).map_err(Error::InvalidRequest)?;
        let object = ObjectRef::parse(product, object_type.trim(), id.trim())
            .map_err(Error::InvalidRequest)?;
        let found = status::one(&state.pool, &state.defaults(), &site, &object).await?;
        let history = status::history(&state.pool, &site, &object).await?;
        let diagnosis = crate::http::diagnosis::diagnosis_of(&state, &site, &object).await?;
        Ok::<_, Error>(Some((found, history, diagnosis)))
    }
    .await;
    let now = Utc::now();
    let context = match lookup {
        Ok(None) => json!({"q": q}),
        Ok(Some((found, history, diagnosis))) => json!({
            "diagnosis": {
                "verdict": diagnosis.verdict.as_str(), "advice": diagnosis.advice,
                "rule": diagnosis.rule, "since": Moment::maybe(diagnosis.since, now),
            },
            "q": q,
            "status": {
                "product": found.object.product.as_str(), "type": found.object.object_type,
                "id": found.object.id, "state": found.state.as_str(),
                "since": Moment::maybe(found.blocked_since, now),
                "purge_after": Moment::maybe(found.purge_after, now),
                "decision_id": found.decision_id,
            },
            "history": history.iter().map(|h| json!({
                "kind": h.kind, "when": Moment::new(h.at, now), "from": h.from, "to": h.to,
                "detail": history_detail(h),
            })).collect::<Vec<_>>(),
        }),
        Err(Error::InvalidRequest(text)) => json!({"q": q, "error": text}),
        Err(e) => return error_page(&e, Some(&signed_in)),
    };
    render(
        StatusCode::OK,
        "object.html",
        page(&signed_in, "Find an object", context),
    )
    .unwrap_or_else(|e| error_page(&e, Some(&signed_in)))
}
