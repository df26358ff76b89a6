//! Looking things up: a site's blocks and policies, one object's status,
//! history and diagnosis.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::{json, Value};

use super::{error_page, finish, page, render, Moment};
use crate::domain::CloudId;
use crate::http::{paths, AppState};
use crate::store::{policies, status};
use crate::Error;

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
        let site = paths::site(site.trim())?;
        let object = paths::object(product, object_type.trim(), id.trim())?;
        let found = status::one(&state.pool, &state.defaults(), &site, &object).await?;
        let history = status::history(&state.pool, &site, &object).await?;
        // The history already holds the events the diagnosis cites.
        let seen = crate::store::observations::for_object(
            &state.pool,
            &site,
            &object,
            crate::http::diagnosis::EVIDENCE_OBSERVATIONS,
        )
        .await?;
        let diagnosis = crate::diagnosis::diagnose::diagnose(&found, seen, &history);
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
