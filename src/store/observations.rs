//! Observations reported by the app's services, and the site checks made at
//! registration. A batch of observations is one statement (one round trip)
//! unless it carries a policy header, which also writes a block in the same
//! transaction.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};

use crate::diagnosis::Observation;
use crate::domain::{CloudId, EventKind, EventSite, ObjectRef, PolicyEvent, ReceiveMode};
use crate::store::{inbox, tenants};
use crate::Error;

/// What a batch changed.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Objects recorded as blocked on the strength of a policy header.
    pub blocked: usize,
    /// Products of the site whose verification was asked for at the next pass.
    pub verification_requested: Vec<String>,
}

/// Stores the observations of one site; `None` when the site has no tenant.
pub async fn record(
    pool: &PgPool,
    site: &CloudId,
    reported_by: &str,
    observations: &[Observation],
    now: DateTime<Utc>,
) -> Result<Option<Recorded>, Error> {
    let header_blocks: Vec<&Observation> = observations
        .iter()
        .filter(|o| o.shows_policy_block())
        .collect();
    if header_blocks.is_empty() {
        let mut conn = pool.acquire().await?;
        return insert(&mut conn, site, reported_by, observations, now).await;
    }
    let mut tx = pool.begin().await?;
    let Some(mut recorded) = insert(&mut tx, site, reported_by, observations, now).await? else {
        return Ok(None);
    };
    let tenant = tenants::find_by_site(&mut tx, site.as_str())
        .await?
        .ok_or_else(|| Error::Internal("the site's tenant vanished".into()))?;
    let objects: Vec<ObjectRef> = header_blocks.iter().map(|o| o.object.clone()).collect();
    let earliest = header_blocks.iter().map(|o| o.observed_at).min();
    let event = PolicyEvent {
        id: uuid::Uuid::new_v4().to_string(),
        source: "aarc:observations".into(),
        event_type: "aarc:observation:app_access_blocked".into(),
        time: earliest,
        site: EventSite::CloudId(site.clone()),
        kind: EventKind::ObjectsBlocked(objects),
        raw: serde_json::json!({
            "reported_by": reported_by,
            "observations": header_blocks.iter().map(|o| serde_json::json!({
                "product": o.object.product.as_str(), "type": o.object.object_type,
                "id": o.object.id, "status": o.status, "observed_at": o.observed_at,
            })).collect::<Vec<_>>(),
        })
        .to_string(),
    };
    inbox::record(&mut tx, &tenant, ReceiveMode::Observation, &event).await?;
    tx.commit().await?;
    recorded.blocked = header_blocks.len();
    Ok(Some(recorded))
}

async fn insert(
    conn: &mut PgConnection,
    site: &CloudId,
    reported_by: &str,
    observations: &[Observation],
    now: DateTime<Utc>,
) -> Result<Option<Recorded>, Error> {
    let col = |f: &dyn Fn(&Observation) -> String| observations.iter().map(f).collect::<Vec<_>>();
    let row = sqlx::query(
        "WITH site AS (
            SELECT EXISTS (SELECT 1 FROM tenants WHERE cloud_id = $1) AS known
         ), u AS (
            SELECT * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::int[],
                                 $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                   WITH ORDINALITY AS u(product, object_type, object_id, observed_at, status, actor,
                                        operation, message, headers, verdict, rule, ord)
         ), held AS (
            -- A successful call on an object aarc holds as blocked: the block
            -- may be gone, so the site is verified at the next pass.
            SELECT u.ord, u.product FROM u
            JOIN blocked_objects b ON b.cloud_id = $1 AND b.product = u.product
             AND b.object_type = u.object_type AND b.object_id = u.object_id
            WHERE u.verdict = 'accessible' AND b.state IN ('blocked', 'hidden', 'pending_review')
         ), stored AS (
            INSERT INTO observations (cloud_id, product, object_type, object_id, observed_at, status,
                                      actor, operation, message, headers, verdict, rule, reported_by, effect)
            SELECT $1, u.product, u.object_type, u.object_id, u.observed_at, u.status, u.actor,
                   u.operation, NULLIF(u.message, ''), u.headers::jsonb, u.verdict, u.rule, $13,
                   CASE WHEN u.verdict = 'blocked_by_policy' THEN 'blocked'
                        WHEN h.ord IS NOT NULL THEN 'verification_requested' END
            FROM u LEFT JOIN held h ON h.ord = u.ord
            WHERE (SELECT known FROM site)
            RETURNING 1
         ), asked AS (
            INSERT INTO site_verifications (cloud_id, product, requested_at)
            SELECT DISTINCT $1, product, $14::timestamptz FROM held WHERE (SELECT known FROM site)
            ON CONFLICT (cloud_id, product) DO UPDATE SET requested_at = EXCLUDED.requested_at
            RETURNING product
         )
         SELECT (SELECT known FROM site) AS known, (SELECT count(*) FROM stored) AS stored,
                ARRAY(SELECT product FROM asked ORDER BY product) AS asked",
    )
    .bind(site.as_str())
    .bind(col(&|o| o.object.product.as_str().to_string()))
    .bind(col(&|o| o.object.object_type.clone()))
    .bind(col(&|o| o.object.id.clone()))
    .bind(observations.iter().map(|o| o.observed_at).collect::<Vec<_>>())
    .bind(observations.iter().map(|o| o.status as i32).collect::<Vec<_>>())
    .bind(col(&|o| o.actor.as_str().to_string()))
    .bind(col(&|o| o.operation.as_str().to_string()))
    .bind(col(&|o| o.message.clone()))
    .bind(col(&|o| {
        serde_json::Value::Object(
            o.headers
                .iter()
                .map(|(n, v)| (n.clone(), serde_json::Value::from(v.clone())))
                .collect(),
        )
        .to_string()
    }))
    .bind(col(&|o| o.rule.verdict.as_str().to_string()))
    .bind(col(&|o| o.rule.name.to_string()))
    .bind(reported_by)
    .bind(now)
    .fetch_one(conn)
    .await?;
    if !row.try_get::<bool, _>("known")? {
        return Ok(None);
    }
    Ok(Some(Recorded {
        blocked: 0,
        verification_requested: row.try_get("asked")?,
    }))
}

/// One stored observation, as evidence.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StoredObservation {
    pub observed_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub status: i32,
    pub actor: String,
    pub operation: String,
    pub message: Option<String>,
    pub verdict: String,
    pub rule: String,
    pub reported_by: String,
    pub effect: Option<String>,
}

/// The newest `limit` observations of an object, oldest first.
pub async fn for_object(
    pool: &PgPool,
    site: &CloudId,
    object: &ObjectRef,
    limit: i64,
) -> Result<Vec<StoredObservation>, Error> {
    let rows = sqlx::query(
        "SELECT * FROM (
            SELECT id, observed_at, received_at, status, actor, operation, message, verdict, rule,
                   reported_by, effect
            FROM observations
            WHERE cloud_id = $1 AND product = $2 AND object_type = $3 AND object_id = $4
            ORDER BY observed_at DESC, id DESC LIMIT $5
         ) newest ORDER BY observed_at, id",
    )
    .bind(site.as_str())
    .bind(object.product.as_str())
    .bind(&object.object_type)
    .bind(&object.id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredObservation {
                observed_at: r.try_get("observed_at")?,
                received_at: r.try_get("received_at")?,
                status: r.try_get("status")?,
                actor: r.try_get("actor")?,
                operation: r.try_get("operation")?,
                message: r.try_get("message")?,
                verdict: r.try_get("verdict")?,
                rule: r.try_get("rule")?,
                reported_by: r.try_get("reported_by")?,
                effect: r.try_get("effect")?,
            })
        })
        .collect()
}

/// Installed tenants' sites not yet asked whether content is blocked (or
/// whose last attempt failed over an hour ago).
pub async fn sites_to_check(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> Result<Vec<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT t.cloud_id FROM tenants t
         WHERE t.installed AND NOT EXISTS (
             SELECT 1 FROM registration_checks r
             WHERE r.cloud_id = t.cloud_id
               AND (r.error IS NULL OR r.checked_at > $1 - interval '1 hour'))
         ORDER BY 1",
    )
    .bind(now)
    .fetch_all(conn)
    .await?)
}

pub async fn record_check(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    cloud_id: &str,
    product: &str,
    outcome: Result<bool, String>,
) -> Result<(), Error> {
    let (any, error) = match outcome {
        Ok(any) => (Some(any), None),
        Err(e) => (None, Some(e)),
    };
    sqlx::query(
        "INSERT INTO registration_checks (cloud_id, product, checked_at, any_content_blocked, error)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (cloud_id, product) DO UPDATE SET checked_at = $3,
             any_content_blocked = COALESCE($4, registration_checks.any_content_blocked),
             error = $5",
    )
    .bind(cloud_id)
    .bind(product)
    .bind(now)
    .bind(any)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the registration check found for a site, per product.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RegistrationCheck {
    pub product: String,
    #[serde(rename = "anyContentBlocked")]
    pub any_content_blocked: Option<bool>,
    #[serde(rename = "checkedAt")]
    pub checked_at: DateTime<Utc>,
    pub error: Option<String>,
}

pub async fn checks_for_site(
    pool: &PgPool,
    site: &CloudId,
) -> Result<Vec<RegistrationCheck>, Error> {
    let rows = sqlx::query(
        "SELECT product, any_content_blocked, checked_at, error FROM registration_checks
         WHERE cloud_id = $1 ORDER BY product",
    )
    .bind(site.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RegistrationCheck {
                product: r.try_get("product")?,
                any_content_blocked: r.try_get("any_content_blocked")?,
                checked_at: r.try_get("checked_at")?,
                error: r.try_get("error")?,
            })
        })
        .collect()
}
