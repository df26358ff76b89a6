//! Operator routes for decisions and unblocking (contract §6).

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{operator::Operator, AppState};
use crate::domain::ObjectRef;
use crate::store::decisions::{self, Action, AuditEntry, DecisionObject, DecisionView};
use crate::Error;

pub fn decision_id(raw: &str) -> Result<uuid::Uuid, Error> {
    raw.parse()
        .map_err(|_| Error::invalid(format!("{raw:?} is not a decision id (a UUID)")))
}

fn limit(params: &HashMap<String, String>) -> Result<i64, Error> {
    match params.get("limit") {
        None => Ok(100),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                Error::invalid(format!("limit {v:?} must be a whole number from 1 to 1000"))
            }),
    }
}

pub const DECISION_STATES: [&str; 6] = [
    "pending_review",
    "held",
    "kept",
    "purging",
    "purged",
    "cancelled",
];

#[derive(Serialize, ToSchema)]
pub struct DecisionPage {
    pub decisions: Vec<DecisionView>,
    pub next_cursor: Option<String>,
}

/// Decisions, newest first, filtered by `state` and `site`, keyset-paginated.
#[utoipa::path(get, path = "/admin/decisions", tag = "admin",
    params(("state" = Option<String>, Query), ("site" = Option<String>, Query),
           ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = DecisionPage), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn list(
    _: Operator,
    state: web::Data<AppState>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, Error> {
    let wanted = params.get("state").map(String::as_str);
    if let Some(s) = wanted {
        if !DECISION_STATES.contains(&s) {
            return Err(Error::invalid(format!(
                "state {s:?} is not one of {}",
                DECISION_STATES.join(", ")
            )));
        }
    }
    let limit = limit(&params)?;
    let before = match params.get("cursor") {
        None => None,
        Some(c) => {
            let bad = || {
                Error::invalid("cursor is malformed: pass back a next_cursor exactly as received")
            };
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| bad())?;
            let (at, id): (chrono::DateTime<chrono::Utc>, uuid::Uuid) =
                serde_json::from_slice(&bytes).map_err(|_| bad())?;
            Some((at, id))
        }
    };
    let rows = decisions::list(
        &state.pool,
        wanted,
        params.get("site").map(String::as_str),
        limit,
        before,
    )
    .await?;
    let next_cursor = if rows.len() as i64 == limit {
        rows.last().map(|last| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::json!([last.created_at, last.id]).to_string())
        })
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(DecisionPage {
        decisions: rows,
        next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct DecisionDetail {
    pub decision: DecisionView,
    pub objects: Vec<DecisionObject>,
    /// Pass as `after` for the next page of objects.
    pub next_after: Option<String>,
    pub audit: Vec<AuditEntry>,
}

/// One decision with its objects (paginated by `after`/`limit`) and its audit trail.
#[utoipa::path(get, path = "/admin/decisions/{id}", tag = "admin",
    params(("id" = String, Path), ("limit" = Option<i64>, Query), ("after" = Option<String>, Query)),
    responses((status = 200, body = DecisionDetail), (status = 400), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn show(
    _: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, Error> {
    let id = decision_id(&path)?;
    let limit = limit(&params)?;
    let decision = decisions::get(&state.pool, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no decision {id}")))?;
    let objects = decisions::objects(
        &state.pool,
        id,
        limit,
        params.get("after").map(String::as_str),
    )
    .await?;
    let next_after = (objects.len() as i64 == limit)
        .then(|| objects.last().map(|o| o.id.clone()))
        .flatten();
    let audit = decisions::audit_for_decision(&state.pool, id).await?;
    Ok(HttpResponse::Ok().json(DecisionDetail {
        decision,
        objects,
        next_after,
        audit,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ReasonBody {
    pub reason: String,
}

fn reason(body: &[u8]) -> Result<String, Error> {
    let parsed: ReasonBody = super::body::json(body, r#"{"reason": "…"}"#)?;
    if parsed.reason.trim().is_empty() {
        return Err(Error::invalid("reason must not be empty: say why"));
    }
    Ok(parsed.reason)
}

/// Approve (purge now), hold (wait) or keep (never purge this cycle) a decision.
#[utoipa::path(post, path = "/admin/decisions/{id}/{action}", tag = "admin",
    params(("id" = String, Path), ("action" = String, Path, description = "approve, hold or keep")),
    request_body = ReasonBody,
    responses((status = 200, body = DecisionView), (status = 400), (status = 401), (status = 404),
              (status = 409, description = "the decision is no longer pending")),
    security(("bearer" = [])))]
pub async fn act(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let (id, action) = path.into_inner();
    let id = decision_id(&id)?;
    let action = Action::parse(&action)?;
    let reason = reason(&body)?;
    let view = decisions::act(
        &state.pool,
        id,
        action,
        &operator.name,
        &reason,
        chrono::Utc::now(),
    )
    .await?;
    tracing::info!(operator = %operator.name, decision = %id, action = action.as_str(), "decision acted on");
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize, ToSchema)]
pub struct UnblockBody<'a> {
    #[serde(default, borrow)]
    pub objects: Option<Vec<super::status::ObjectInput<'a>>>,
    #[serde(default)]
    pub all: bool,
    pub reason: Option<String>,
}

/// An operator says objects (or every object of the site) are unblocked.
#[utoipa::path(post, path = "/admin/sites/{cloudId}/unblock", tag = "admin",
    params(("cloudId" = String, Path)), request_body = UnblockBody,
    responses((status = 200), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn unblock(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let site = super::paths::site(&path)?;
    let body: UnblockBody = super::body::json(&body, r#"{"objects": […]} or {"all": true}"#)?;
    let reason = body
        .reason
        .unwrap_or_else(|| "operator unblock".to_string());
    let objects = match (body.objects, body.all) {
        (Some(_), true) => {
            return Err(Error::invalid("give either objects or all: true, not both"))
        }
        (None, false) => return Err(Error::invalid("give objects: [...] or all: true")),
        (None, true) => None,
        (Some(list), false) => {
            super::check_list_len("objects", list.len(), 1000)?;
            Some(
                list.iter()
                    .enumerate()
                    .map(|(i, o)| {
                        let obj = ObjectRef::parse_named(&o.product, &o.object_type, &o.id)
                            .map_err(|e| Error::invalid(format!("objects[{i}]: {e}")))?;
                        Ok((obj.product.to_string(), obj.object_type, obj.id))
                    })
                    .collect::<Result<Vec<_>, Error>>()?,
            )
        }
    };
    let n = decisions::unblock(
        &state.pool,
        site.as_str(),
        objects.as_deref(),
        &operator.name,
        &reason,
        chrono::Utc::now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"restored": n})))
}
