//! The review pages of `/ui`: the queue, a decision, and acting on it. Each
//! handler loads what its page shows, turns it into a plain JSON context
//! (times as `Moment`s) and renders one template.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::{json, Value};

use super::{finish, form_fields, page, render, same_origin, see_other, Moment, SignedIn};
use crate::http::AppState;
use crate::store::decisions::{self, Action, DecisionView};
use crate::Error;

fn decision_json(d: &DecisionView) -> Value {
    let now = Utc::now();
    let mut v = serde_json::to_value(d).unwrap_or_default();
    v["created"] = json!(Moment::new(d.created_at, now));
    v["updated"] = json!(Moment::new(d.updated_at, now));
    v
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
