//! Read side for the app's services: object status, lists, summary (and,
//! from `history`, an object's history).
//! Every query is one round trip and uses an index that matches it.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use crate::domain::{CloudId, ObjectRef, ObjectState, Product};
use crate::store::policies::DefaultPolicy;
use crate::Error;

// An object's history is read in a file of its own; callers name it here.
pub use super::history::{event_history, history, HistoryEntry};

/// What aarc knows about one object.
#[derive(Debug, Clone)]
pub struct ObjectStatus {
    pub object: ObjectRef,
    pub state: ObjectState,
    pub blocked_since: Option<DateTime<Utc>>,
    pub purge_after: Option<DateTime<Utc>>,
    pub decision_id: Option<uuid::Uuid>,
}

impl ObjectStatus {
    pub fn clear(object: ObjectRef) -> Self {
        Self {
            object,
            state: ObjectState::Clear,
            blocked_since: None,
            purge_after: None,
            decision_id: None,
        }
    }
}

fn state_of(raw: &str) -> Result<ObjectState, Error> {
    ObjectState::parse(raw).map_err(Error::Internal)
}

pub async fn site_exists(pool: &PgPool, site: &CloudId) -> Result<bool, Error> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tenants WHERE cloud_id = $1)
             OR EXISTS (SELECT 1 FROM inbox_events WHERE cloud_id = $1)",
    )
    .bind(site.as_str())
    .fetch_one(pool)
    .await?)
}

/// Statuses of many objects, in input order, in one query.
pub async fn check(
    pool: &PgPool,
    defaults: &DefaultPolicy,
    site: &CloudId,
    objects: &[ObjectRef],
) -> Result<Vec<ObjectStatus>, Error> {
    let products: Vec<&str> = objects.iter().map(|o| o.product.as_str()).collect();
    let types: Vec<&str> = objects.iter().map(|o| o.object_type.as_str()).collect();
    let ids: Vec<&str> = objects.iter().map(|o| o.id.as_str()).collect();
    // Only the blocked ones come back; the rest are clear. (A hash index on a
    // combined key made this ~1.2x faster but cost the reconciler a third of
    // its speed, since every state change must update every index.)
    let rows = sqlx::query(
        "SELECT u.ord, b.state, b.first_blocked_at, b.decision_id,
                CASE WHEN COALESCE(p.action, $5) = 'purge' AND NOT b.kept
                   AND b.state IN ('blocked', 'hidden', 'pending_review', 'purging', 'purged')
              THEN b.first_blocked_at + make_interval(secs => COALESCE(p.grace_secs, $6)::float8) END AS purge_after
         FROM UNNEST($2::text[], $3::text[], $4::text[]) WITH ORDINALITY
              AS u(product, object_type, object_id, ord)
         JOIN blocked_objects b
           ON b.cloud_id = $1 AND b.product = u.product
          AND b.object_type = u.object_type AND b.object_id = u.object_id
         LEFT JOIN retention_policies p
                ON p.cloud_id = b.cloud_id AND p.product = b.product AND p.object_type = b.object_type",
    )
    .bind(site.as_str())
    .bind(&products)
    .bind(&types)
    .bind(&ids)
    .bind(defaults.action.to_string())
    .bind(defaults.grace.as_duration().as_secs() as f64)
    .fetch_all(pool)
    .await?;
    let mut statuses: Vec<ObjectStatus> =
        objects.iter().cloned().map(ObjectStatus::clear).collect();
    for row in rows {
        let ord: i64 = row.try_get("ord")?;
        let slot = usize::try_from(ord - 1)
            .ok()
            .and_then(|i| statuses.get_mut(i))
            .ok_or_else(|| Error::Internal(format!("batch row {ord} out of range")))?;
        slot.state = state_of(row.try_get("state")?)?;
        slot.blocked_since = row.try_get("first_blocked_at")?;
        slot.purge_after = row.try_get("purge_after")?;
        slot.decision_id = row.try_get("decision_id")?;
    }
    Ok(statuses)
}

pub async fn one(
    pool: &PgPool,
    defaults: &DefaultPolicy,
    site: &CloudId,
    object: &ObjectRef,
) -> Result<ObjectStatus, Error> {
    let row = sqlx::query(
        "SELECT b.state, b.first_blocked_at, b.decision_id,
                CASE WHEN COALESCE(p.action, $5) = 'purge' AND NOT b.kept
                   AND b.state IN ('blocked', 'hidden', 'pending_review', 'purging', 'purged')
              THEN b.first_blocked_at + make_interval(secs => COALESCE(p.grace_secs, $6)::float8) END AS purge_after
         FROM blocked_objects b
         LEFT JOIN retention_policies p
                ON p.cloud_id = b.cloud_id AND p.product = b.product AND p.object_type = b.object_type
         WHERE b.cloud_id = $1 AND b.product = $2 AND b.object_type = $3 AND b.object_id = $4",
    )
    .bind(site.as_str())
    .bind(object.product.as_str())
    .bind(&object.object_type)
    .bind(&object.id)
    .bind(defaults.action.to_string())
    .bind(defaults.grace.as_duration().as_secs() as f64)
    .fetch_optional(pool)
    .await?;
    match row {
        None => Ok(ObjectStatus::clear(object.clone())),
        Some(row) => Ok(ObjectStatus {
            object: object.clone(),
            state: state_of(row.try_get("state")?)?,
            blocked_since: row.try_get("first_blocked_at")?,
            purge_after: row.try_get("purge_after")?,
            decision_id: row.try_get("decision_id")?,
        }),
    }
}

/// Filters and position of a page of blocked objects.
pub struct BlockQuery {
    pub product: Option<Product>,
    pub object_type: Option<String>,
    pub state: Option<ObjectState>,
    pub limit: i64,
    /// The last object of the previous page.
    pub after: Option<ObjectRef>,
}

/// One page in (id, product, type) order — the order of the primary key, so
/// a page is read straight from the index — keyset-paginated: the next page
/// starts strictly after the last row of this one, so pages never overlap
/// or skip, however the table changes in between.
pub async fn blocks(
    pool: &PgPool,
    defaults: &DefaultPolicy,
    site: &CloudId,
    q: &BlockQuery,
) -> Result<Vec<ObjectStatus>, Error> {
    let (ap, at, ai) = match &q.after {
        Some(o) => (
            Some(o.product.as_str()),
            Some(o.object_type.as_str()),
            Some(o.id.as_str()),
        ),
        None => (None, None, None),
    };
    let rows = sqlx::query(
        "SELECT b.product, b.object_type, b.object_id, b.state, b.first_blocked_at, b.decision_id,
                CASE WHEN COALESCE(p.action, $9) = 'purge' AND NOT b.kept
                   AND b.state IN ('blocked', 'hidden', 'pending_review', 'purging', 'purged')
              THEN b.first_blocked_at + make_interval(secs => COALESCE(p.grace_secs, $10)::float8) END AS purge_after
         FROM blocked_objects b
         LEFT JOIN retention_policies p
                ON p.cloud_id = b.cloud_id AND p.product = b.product AND p.object_type = b.object_type
         WHERE b.cloud_id = $1
           AND ($2::text IS NULL OR b.product = $2)
           AND ($3::text IS NULL OR b.object_type = $3)
           AND ($4::text IS NULL OR b.state = $4)
           AND ($5::text IS NULL OR (b.object_id, b.product, b.object_type) > ($7, $5, $6))
         ORDER BY b.object_id, b.product, b.object_type
         LIMIT $8",
    )
    .bind(site.as_str())
    .bind(q.product.as_ref().map(Product::as_str))
    .bind(q.object_type.as_deref())
    .bind(q.state.map(ObjectState::as_str))
    .bind(ap)
    .bind(at)
    .bind(ai)
    .bind(q.limit)
    .bind(defaults.action.to_string())
    .bind(defaults.grace.as_duration().as_secs() as f64)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let product = Product::parse(row.try_get("product")?).map_err(Error::Internal)?;
            let object = ObjectRef::parse(
                product,
                row.try_get("object_type")?,
                row.try_get("object_id")?,
            )
            .map_err(Error::Internal)?;
            Ok(ObjectStatus {
                object,
                state: state_of(row.try_get("state")?)?,
                blocked_since: row.try_get("first_blocked_at")?,
                purge_after: row.try_get("purge_after")?,
                decision_id: row.try_get("decision_id")?,
            })
        })
        .collect()
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ContainerStatus {
    pub product: String,
    pub id: String,
    pub blocked_since: DateTime<Utc>,
    pub last_event_at: DateTime<Utc>,
}

pub async fn containers(pool: &PgPool, site: &CloudId) -> Result<Vec<ContainerStatus>, Error> {
    let rows = sqlx::query(
        "SELECT product, container_id, first_blocked_at, last_blocked_at FROM blocked_containers
         WHERE cloud_id = $1 ORDER BY product, container_id",
    )
    .bind(site.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ContainerStatus {
                product: r.try_get("product")?,
                id: r.try_get("container_id")?,
                blocked_since: r.try_get("first_blocked_at")?,
                last_event_at: r.try_get("last_blocked_at")?,
            })
        })
        .collect()
}

/// Objects per state and the number of containers with content blocked inside.
pub async fn summary(
    pool: &PgPool,
    site: &CloudId,
) -> Result<(Vec<(ObjectState, i64)>, i64), Error> {
    let rows = sqlx::query(
        "SELECT state, count(*) AS n FROM blocked_objects WHERE cloud_id = $1 GROUP BY state",
    )
    .bind(site.as_str())
    .fetch_all(pool)
    .await?;
    let counts = rows
        .iter()
        .map(|r| Ok((state_of(r.try_get("state")?)?, r.try_get("n")?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let containers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM blocked_containers WHERE cloud_id = $1")
            .bind(site.as_str())
            .fetch_one(pool)
            .await?;
    Ok((counts, containers))
}

pub async fn product_on_site(
    pool: &PgPool,
    site: &CloudId,
    product: &Product,
) -> Result<bool, Error> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM blocked_objects WHERE cloud_id = $1 AND product = $2)",
    )
    .bind(site.as_str())
    .bind(product.as_str())
    .fetch_one(pool)
    .await?)
}
