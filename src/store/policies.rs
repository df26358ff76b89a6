//! Retention policies per (site, product, object type).

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use crate::domain::{CloudId, HumanDuration, RetentionAction, ReviewMode};
use crate::Error;

/// The policy in force when no row matches.
#[derive(Debug, Clone, Copy)]
pub struct DefaultPolicy {
    pub action: RetentionAction,
    pub grace: HumanDuration,
    pub review: ReviewMode,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub product: String,
    #[serde(rename = "type")]
    pub object_type: String,
    pub action: String,
    pub grace: String,
    pub review: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

pub struct NewPolicy {
    pub product: String,
    pub object_type: String,
    pub action: RetentionAction,
    pub grace: HumanDuration,
    pub review: ReviewMode,
}

pub async fn list(pool: &PgPool, site: &CloudId) -> Result<Vec<PolicyView>, Error> {
    let rows = sqlx::query(
        "SELECT product, object_type, action, grace_secs, review, updated_at, updated_by
         FROM retention_policies WHERE cloud_id = $1 ORDER BY product, object_type",
    )
    .bind(site.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let secs: i64 = r.try_get("grace_secs")?;
            Ok(PolicyView {
                product: r.try_get("product")?,
                object_type: r.try_get("object_type")?,
                action: r.try_get("action")?,
                grace: HumanDuration::from_secs(secs.max(0) as u64).to_string(),
                review: r.try_get("review")?,
                updated_at: r.try_get("updated_at")?,
                updated_by: r.try_get("updated_by")?,
            })
        })
        .collect()
}

/// Replaces the site's policies for the given (product, type) pairs, in one
/// transaction, and records who did it.
pub async fn put(
    pool: &PgPool,
    site: &CloudId,
    policies: &[NewPolicy],
    actor: &str,
) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    for p in policies {
        sqlx::query(
            "INSERT INTO retention_policies (cloud_id, product, object_type, action, grace_secs, review, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (cloud_id, product, object_type) DO UPDATE SET
                action = EXCLUDED.action, grace_secs = EXCLUDED.grace_secs, review = EXCLUDED.review,
                updated_at = now(), updated_by = EXCLUDED.updated_by",
        )
        .bind(site.as_str())
        .bind(&p.product)
        .bind(&p.object_type)
        .bind(p.action.to_string())
        .bind(p.grace.as_duration().as_secs() as i64)
        .bind(p.review.to_string())
        .bind(actor)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
