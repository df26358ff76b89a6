//! Diagnosis routes (contract §4.1): the app's services report what Atlassian
//! answered them; aarc classifies, keeps it, and says why content is out of reach.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::paths::{site, site_and_object};
use super::{operator::ServiceCaller, AppState};
use crate::diagnosis::diagnose::{diagnose, Diagnosis};
use crate::diagnosis::{ObservationInput, Verdict};
use crate::store::{observations, status};
use crate::Error;

#[derive(Deserialize, ToSchema)]
pub struct ObservationBatch {
    /// 1 to 1000 observations.
    pub observations: Vec<ObservationInput>,
}

#[derive(Serialize, ToSchema)]
pub struct Classification {
    pub verdict: Verdict,
    /// The classifier rule that matched (see the README's rule table).
    pub rule: &'static str,
    pub advice: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct ObservationResults {
    /// One per observation, in input order.
    pub results: Vec<Classification>,
    /// Objects recorded as blocked because of a policy header.
    pub blocked: usize,
    /// Products whose verification with Atlassian was moved to the next pass.
    pub verification_requested: Vec<String>,
}

/// Classifies and stores what the app observed; feeds blocks and verification.
#[utoipa::path(post, path = "/v1/sites/{cloudId}/observations", tag = "diagnosis",
    params(("cloudId" = String, Path)), request_body = ObservationBatch,
    responses((status = 200, body = ObservationResults), (status = 400), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn observe(
    caller: ServiceCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let site = site(&path)?;
    let batch: ObservationBatch = super::body::json(
        &body,
        r#"{"observations": [{"product", "type", "id", "status", "actor", "operation", …}]}"#,
    )?;
    super::check_list_len("observations", batch.observations.len(), 1000)?;
    let now = chrono::Utc::now();
    let parsed = batch
        .observations
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            o.parse(now)
                .map_err(|e| Error::invalid(format!("observations[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let recorded = observations::record(&state.pool, &site, &caller.name, &parsed, now)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!("site {site} has no tenant registered with aarc"))
        })?;
    Ok(HttpResponse::Ok().json(ObservationResults {
        results: parsed
            .iter()
            .map(|o| Classification {
                verdict: o.rule.verdict,
                rule: o.rule.name,
                advice: o.rule.advice,
            })
            .collect(),
        blocked: recorded.blocked,
        verification_requested: recorded.verification_requested,
    }))
}

/// How many observations a diagnosis shows as evidence.
pub const EVIDENCE_OBSERVATIONS: i64 = 50;

/// Loads what aarc knows about an object and diagnoses it.
pub async fn diagnosis_of(
    state: &AppState,
    site: &crate::domain::CloudId,
    object: &crate::domain::ObjectRef,
) -> Result<Diagnosis, Error> {
    let current = status::one(&state.pool, &state.defaults(), site, object).await?;
    let seen = observations::for_object(&state.pool, site, object, EVIDENCE_OBSERVATIONS).await?;
    // Only the events are evidence: no need for the whole history.
    let events = status::event_history(&state.pool, site, object).await?;
    Ok(diagnose(&current, seen, &events))
}

/// Why the app cannot (or can) see an object: verdict, since, evidence, advice.
#[utoipa::path(get, path = "/v1/sites/{cloudId}/objects/{product}/{type}/{id}/diagnosis", tag = "diagnosis",
    params(("cloudId" = String, Path), ("product" = String, Path), ("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Diagnosis), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn diagnosis(
    _: ServiceCaller,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, Error> {
    let (site, object) = site_and_object(path)?;
    Ok(HttpResponse::Ok().json(diagnosis_of(&state, &site, &object).await?))
}
