//! The status API for the app's services (contract §4).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use actix_web::{web, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paths::{object, site, site_and_object};
use super::{operator::ServiceCaller, AppState};
use crate::domain::{CloudId, ObjectRef, ObjectState, Product};
use crate::store::status::{self, BlockQuery, ContainerStatus, HistoryEntry, ObjectStatus};
use crate::Error;

pub const MAX_CHECK: usize = 1000;
const DEFAULT_LIMIT: i64 = 100;
const KNOWN_PRODUCTS: [&str; 2] = ["confluence", "jira"];

/// One object's status.
#[derive(Serialize, ToSchema)]
pub struct ObjectStatusView {
    #[schema(value_type = String)]
    pub product: Product,
    #[serde(rename = "type")]
    pub object_type: String,
    pub id: String,
    /// Whether the app is blocked from this object now.
    pub blocked: bool,
    pub state: ObjectState,
    pub blocked_since: Option<DateTime<Utc>>,
    pub purge_after: Option<DateTime<Utc>>,
    pub decision_id: Option<uuid::Uuid>,
}

impl From<ObjectStatus> for ObjectStatusView {
    fn from(s: ObjectStatus) -> Self {
        Self {
            product: s.object.product,
            object_type: s.object.object_type,
            id: s.object.id,
            blocked: s.state.is_blocked(),
            state: s.state,
            blocked_since: s.blocked_since,
            purge_after: s.purge_after,
            decision_id: s.decision_id,
        }
    }
}

async fn known_site(state: &AppState, site: &CloudId) -> Result<(), Error> {
    if status::site_exists(&state.pool, site).await? {
        Ok(())
    } else {
        Err(Error::NotFound(format!("site {site} is not known to aarc")))
    }
}

/// The status of one object (`clear` when aarc has never seen it blocked).
#[utoipa::path(get, path = "/v1/sites/{cloudId}/objects/{product}/{type}/{id}", tag = "status",
    params(("cloudId" = String, Path), ("product" = String, Path), ("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ObjectStatusView), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn object_status(
    _: ServiceCaller,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, Error> {
    let (site, object) = site_and_object(path)?;
    let (status, answered_from) = state
        .status_cache
        .one(&state.pool, &state.defaults(), &site, object)
        .await?;
    crate::metrics::METRICS.status_check(answered_from.as_str());
    Ok(HttpResponse::Ok()
        .insert_header(("aarc-answered-from", answered_from.as_str()))
        .json(ObjectStatusView::from(status)))
}

// Borrowed from the request body where JSON escapes allow: a check
// parses a thousand of these per request.
#[derive(Deserialize, ToSchema)]
pub struct ObjectInput<'a> {
    #[serde(borrow)]
    #[schema(value_type = String)]
    pub product: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    #[schema(value_type = String)]
    pub object_type: Cow<'a, str>,
    #[serde(borrow)]
    #[schema(value_type = String)]
    pub id: Cow<'a, str>,
}

#[derive(Deserialize, ToSchema)]
pub struct CheckRequest<'a> {
    /// 1 to 1000 objects.
    #[serde(borrow)]
    pub objects: Vec<ObjectInput<'a>>,
}

#[derive(Serialize, ToSchema)]
pub struct CheckResponse {
    /// One status per input object, in input order.
    pub results: Vec<ObjectStatusView>,
}

/// Statuses of 1 to 1000 objects in one call, answered in one database round trip.
#[utoipa::path(post, path = "/v1/sites/{cloudId}/objects/check", tag = "status",
    params(("cloudId" = String, Path)), request_body = CheckRequest,
    responses((status = 200, body = CheckResponse), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn check(
    _: ServiceCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let site = site(&path)?;
    let request: CheckRequest =
        super::body::json(&body, r#"{"objects": [{"product", "type", "id"}, …]}"#)?;
    super::check_list_len("objects", request.objects.len(), MAX_CHECK)?;
    let objects = request
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            object(&o.product, &o.object_type, &o.id)
                .map_err(|e| Error::invalid(format!("objects[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (results, answered_from) = state
        .status_cache
        .check(&state.pool, &state.defaults(), &site, objects)
        .await?;
    crate::metrics::METRICS.status_check(answered_from.as_str());
    Ok(HttpResponse::Ok()
        .insert_header(("aarc-answered-from", answered_from.as_str()))
        .content_type("application/json")
        .body(super::check_json::check_answer(&results)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; parsing is done by `parse_block_query`
pub struct BlocksParams {
    /// confluence, jira, or a product with blocks on this site
    product: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    object_type: Option<String>,
    /// one of the object states
    state: Option<String>,
    /// 1 to 1000, default 100
    limit: Option<i64>,
    /// `next_cursor` of the previous page
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BlocksPage {
    pub objects: Vec<ObjectStatusView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn encode_cursor(o: &ObjectStatusView) -> String {
    let raw = serde_json::json!([o.product, o.object_type, o.id]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub fn decode_cursor(raw: &str) -> Result<ObjectRef, Error> {
    let bad = || Error::invalid("cursor is malformed: pass back a next_cursor exactly as received");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| bad())?;
    let parts: (String, String, String) = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    object(&parts.0, &parts.1, &parts.2).map_err(|_| bad())
}

fn parse_block_query(params: &HashMap<String, String>) -> Result<BlockQuery, Error> {
    if let Some(unknown) = params
        .keys()
        .find(|k| !["product", "type", "state", "limit", "cursor"].contains(&k.as_str()))
    {
        return Err(Error::invalid(format!(
            "unknown query parameter {unknown:?} (product, type, state, limit, cursor)"
        )));
    }
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                Error::invalid(format!("limit {v:?} must be a whole number from 1 to 1000"))
            })?,
    };
    Ok(BlockQuery {
        product: params
            .get("product")
            .map(|p| Product::parse(p).map_err(Error::InvalidRequest))
            .transpose()?,
        object_type: params.get("type").cloned(),
        state: params
            .get("state")
            .map(|s| ObjectState::parse(s).map_err(Error::InvalidRequest))
            .transpose()?,
        limit,
        after: params.get("cursor").map(|c| decode_cursor(c)).transpose()?,
    })
}

/// Blocked objects of a site, in (id, product, type) order, keyset-paginated.
#[utoipa::path(get, path = "/v1/sites/{cloudId}/blocks", tag = "status",
    params(("cloudId" = String, Path), BlocksParams),
    responses((status = 200, body = BlocksPage), (status = 400), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn blocks(
    _: ServiceCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, Error> {
    let site = site(&path)?;
    let query = parse_block_query(&params)?;
    known_site(&state, &site).await?;
    if let Some(p) = &query.product {
        if !KNOWN_PRODUCTS.contains(&p.as_str())
            && !status::product_on_site(&state.pool, &site, p).await?
        {
            return Err(Error::invalid(format!(
                "product {p:?} is not known (confluence, jira) and has no blocks on this site"
            )));
        }
    }
    let rows = status::blocks(&state.pool, &state.defaults(), &site, &query).await?;
    let full = rows.len() as i64 == query.limit;
    let objects: Vec<ObjectStatusView> = rows.into_iter().map(ObjectStatusView::from).collect();
    let next_cursor = if full {
        objects.last().map(encode_cursor)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(BlocksPage {
        objects,
        next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ContainersView {
    pub containers: Vec<ContainerStatus>,
}

/// Containers with content blocked inside. Such an event never says which
/// objects are blocked, so they are not turned into object blocks.
#[utoipa::path(get, path = "/v1/sites/{cloudId}/containers", tag = "status",
    params(("cloudId" = String, Path)),
    responses((status = 200, body = ContainersView), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn containers(
    _: ServiceCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let site = site(&path)?;
    known_site(&state, &site).await?;
    let containers = status::containers(&state.pool, &site).await?;
    Ok(HttpResponse::Ok().json(ContainersView { containers }))
}

#[derive(Serialize, ToSchema)]
pub struct SummaryView {
    #[serde(rename = "anyContentBlocked")]
    pub any_content_blocked: bool,
    /// Objects per state (every state but `clear`, zeros included).
    pub counts: BTreeMap<String, i64>,
    /// Containers with content blocked inside.
    pub containers: i64,
    /// Atlassian said content was already blocked when the app was registered:
    /// blocks from before the installation (no event reached the app) may be
    /// missing from aarc until an event or an observation reveals them.
    #[serde(rename = "blocksBeforeInstallationMayBeUnknown")]
    pub blocks_before_installation_may_be_unknown: bool,
    /// What that registration check found, per product.
    #[serde(rename = "registrationCheck")]
    pub registration_check: Vec<crate::store::observations::RegistrationCheck>,
}

/// Whether anything on the site is blocked, and how much in each state.
#[utoipa::path(get, path = "/v1/sites/{cloudId}/summary", tag = "status",
    params(("cloudId" = String, Path)),
    responses((status = 200, body = SummaryView), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn summary(
    _: ServiceCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let site = site(&path)?;
    known_site(&state, &site).await?;
    let (counts, containers) = status::summary(&state.pool, &site).await?;
    let mut view: BTreeMap<String, i64> = ObjectState::ALL
        .iter()
        .filter(|s| **s != ObjectState::Clear)
        .map(|s| (s.to_string(), 0))
        .collect();
    let mut any = containers > 0;
    for (s, n) in counts {
        any |= s.is_blocked() && n > 0;
        view.insert(s.to_string(), n);
    }
    let checks = crate::store::observations::checks_for_site(&state.pool, &site).await?;
    Ok(HttpResponse::Ok().json(SummaryView {
        any_content_blocked: any,
        counts: view,
        containers,
        blocks_before_installation_may_be_unknown: checks
            .iter()
            .any(|c| c.any_content_blocked == Some(true)),
        registration_check: checks,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct HistoryView {
    pub object: ObjectStatusView,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
}

/// Every event that touched the object, oldest first: the answer to "why
/// can't the app see this?".
#[utoipa::path(get, path = "/v1/sites/{cloudId}/objects/{product}/{type}/{id}/history", tag = "status",
    params(("cloudId" = String, Path), ("product" = String, Path), ("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = HistoryView), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn history(
    _: ServiceCaller,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, Error> {
    let (site, object) = site_and_object(path)?;
    let current = status::one(&state.pool, &state.defaults(), &site, &object).await?;
    let history = status::history(&state.pool, &site, &object).await?;
    Ok(HttpResponse::Ok().json(HistoryView {
        object: current.into(),
        history,
    }))
}
