//! `PUT/GET /admin/sites/{cloudId}/policies`: retention per (product, type).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{operator::Operator, AppState};
use crate::domain::{CloudId, HumanDuration, Product, RetentionAction, ReviewMode};
use crate::store::decisions::{audit, AuditRecord};
use crate::store::policies::{self, NewPolicy, PolicyView};
use crate::Error;

#[derive(Deserialize, ToSchema)]
pub struct PolicyInput {
    pub product: String,
    #[serde(rename = "type")]
    pub object_type: String,
    /// keep, hide or purge
    pub action: String,
    /// e.g. 30d (default: AARC_DEFAULT_GRACE)
    pub grace: Option<String>,
    /// required or auto (default: AARC_DEFAULT_REVIEW)
    pub review: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct PoliciesBody {
    pub policies: Vec<PolicyInput>,
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PoliciesView {
    /// The site's own policies.
    pub policies: Vec<PolicyView>,
    /// What applies to everything else.
    pub default: DefaultView,
}

#[derive(Serialize, ToSchema)]
pub struct DefaultView {
    pub action: String,
    pub grace: String,
    pub review: String,
}

/// Parses operator input into policies (shared with the CLI).
pub fn parse_policy(
    input: &PolicyInput,
    default_grace: HumanDuration,
    default_review: ReviewMode,
) -> Result<NewPolicy, String> {
    let product = Product::parse(&input.product)?;
    if input.object_type.is_empty() || input.object_type.len() > 64 {
        return Err("type must be 1 to 64 characters".into());
    }
    Ok(NewPolicy {
        product: product.to_string(),
        object_type: input.object_type.clone(),
        action: RetentionAction::parse(&input.action)?,
        grace: match &input.grace {
            Some(g) => HumanDuration::parse(g)?,
            None => default_grace,
        },
        review: match &input.review {
            Some(r) => ReviewMode::parse(r)?,
            None => default_review,
        },
    })
}

async fn current(state: &AppState, site: &CloudId) -> Result<PoliciesView, Error> {
    Ok(PoliciesView {
        policies: policies::list(&state.pool, site).await?,
        default: DefaultView {
            action: state.config.default_action.to_string(),
            grace: state.config.default_grace.to_string(),
            review: state.config.default_review.to_string(),
        },
    })
}

/// The site's retention policies and the default.
#[utoipa::path(get, path = "/admin/sites/{cloudId}/policies", tag = "admin",
    params(("cloudId" = String, Path)),
    responses((status = 200, body = PoliciesView), (status = 401)), security(("bearer" = [])))]
pub async fn get(
    _: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let site = super::paths::site(&path)?;
    Ok(HttpResponse::Ok().json(current(&state, &site).await?))
}

/// Sets policies for (product, type) pairs; applies to blocked objects at the next pass.
#[utoipa::path(put, path = "/admin/sites/{cloudId}/policies", tag = "admin",
    params(("cloudId" = String, Path)), request_body = PoliciesBody,
    responses((status = 200, body = PoliciesView), (status = 400), (status = 401)), security(("bearer" = [])))]
pub async fn put(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let site = super::paths::site(&path)?;
    let body: PoliciesBody = super::body::json(
        &body,
        r#"{"policies": [{"product", "type", "action", "grace", "review"}]}"#,
    )?;
    super::check_list_len("policies", body.policies.len(), 100)?;
    let parsed = body
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            parse_policy(p, state.config.default_grace, state.config.default_review)
                .map_err(|e| Error::invalid(format!("policies[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    policies::put(&state.pool, &site, &parsed, &operator.name).await?;
    let mut conn = state.pool.acquire().await?;
    let detail = serde_json::json!(parsed
        .iter()
        .map(|p| serde_json::json!({"product": p.product, "type": p.object_type, "action": p.action.to_string(),
                                    "grace": p.grace.to_string(), "review": p.review.to_string()}))
        .collect::<Vec<_>>());
    let reason = body.reason.unwrap_or_else(|| "policy change".into());
    audit(
        &mut conn,
        chrono::Utc::now(),
        AuditRecord {
            actor: &operator.name,
            action: "set_policy",
            cloud_id: Some(site.as_str()),
            decision_id: None,
            reason: &reason,
            detail,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(current(&state, &site).await?))
}
