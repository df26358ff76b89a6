//! Purge decisions and what operators do with them. Every operator action is
//! written to `audit_log` in the transaction that carries it out.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::store::reconcile;
use crate::Error;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DecisionView {
    pub id: Uuid,
    #[serde(rename = "cloudId")]
    pub cloud_id: String,
    pub product: String,
    #[serde(rename = "type")]
    pub object_type: String,
    pub state: String,
    pub review: String,
    pub object_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub pass_id: Uuid,
}

const DECISION_COLUMNS: &str =
    "id, cloud_id, product, object_type, state, review, object_count, created_at, updated_at, pass_id";

fn view(r: &sqlx::postgres::PgRow) -> Result<DecisionView, Error> {
    Ok(DecisionView {
        id: r.try_get("id")?,
        cloud_id: r.try_get("cloud_id")?,
        product: r.try_get("product")?,
        object_type: r.try_get("object_type")?,
        state: r.try_get("state")?,
        review: r.try_get("review")?,
        object_count: r.try_get("object_count")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        pass_id: r.try_get("pass_id")?,
    })
}

pub async fn list(
    pool: &PgPool,
    state: Option<&str>,
    site: Option<&str>,
    limit: i64,
    before: Option<(DateTime<Utc>, Uuid)>,
) -> Result<Vec<DecisionView>, Error> {
    let rows = sqlx::query(&format!(
        "SELECT {DECISION_COLUMNS} FROM decisions
         WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR cloud_id = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
         ORDER BY created_at DESC, id DESC LIMIT $5"
    ))
    .bind(state)
    .bind(site)
    .bind(before.map(|b| b.0))
    .bind(before.map(|b| b.1))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(view).collect()
}

/// How many decisions are in each state.
pub async fn counts(pool: &PgPool) -> Result<Vec<(String, i64)>, Error> {
    Ok(
        sqlx::query_as("SELECT state, count(*) FROM decisions GROUP BY state ORDER BY state")
            .fetch_all(pool)
            .await?,
    )
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<DecisionView>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {DECISION_COLUMNS} FROM decisions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(view).transpose()
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DecisionObject {
    pub product: String,
    #[serde(rename = "type")]
    pub object_type: String,
    pub id: String,
    pub state: String,
    pub blocked_since: DateTime<Utc>,
    /// The inbox ids of the events that blocked it.
    pub event_ids: Vec<String>,
}

pub async fn objects(
    pool: &PgPool,
    id: Uuid,
    limit: i64,
    after: Option<&str>,
) -> Result<Vec<DecisionObject>, Error> {
    let rows = sqlx::query(
        "SELECT b.product, b.object_type, b.object_id, b.state, b.first_blocked_at,
                ARRAY(SELECT e.event_id FROM inbox_events e WHERE e.id = ANY (b.inbox_ids) ORDER BY e.id) AS events
         FROM blocked_objects b
         WHERE b.decision_id = $1 AND ($2::text IS NULL OR b.object_id > $2)
         ORDER BY b.object_id LIMIT $3",
    )
    .bind(id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DecisionObject {
                product: r.try_get("product")?,
                object_type: r.try_get("object_type")?,
                id: r.try_get("object_id")?,
                state: r.try_get("state")?,
                blocked_since: r.try_get("first_blocked_at")?,
                event_ids: r.try_get("events")?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Approve,
    Hold,
    Keep,
}

impl Action {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "approve" => Ok(Self::Approve),
            "hold" => Ok(Self::Hold),
            "keep" => Ok(Self::Keep),
            other => Err(Error::invalid(format!(
                "unknown action {other:?} (approve, hold, keep)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Hold => "hold",
            Self::Keep => "keep",
        }
    }
}

/// One operator action for the audit log.
pub struct AuditRecord<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub cloud_id: Option<&'a str>,
    pub decision_id: Option<Uuid>,
    pub reason: &'a str,
    pub detail: serde_json::Value,
}

/// Appends to the audit log (never updated, never deleted).
pub async fn audit(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    record: AuditRecord<'_>,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, cloud_id, decision_id, reason, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(now)
    .bind(record.actor)
    .bind(record.action)
    .bind(record.cloud_id)
    .bind(record.decision_id)
    .bind(record.reason)
    .bind(record.detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// Approve: the objects go to `purging` and the app is told to purge.
/// Hold: the decision waits (objects stay `pending_review`).
/// Keep: no purge; the objects stay `hidden` and are never purged this cycle.
/// Only a pending (or held) decision can be acted on.
pub async fn act(
    pool: &PgPool,
    id: Uuid,
    action: Action,
    actor: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<DecisionView, Error> {
    if reason.trim().is_empty() {
        return Err(Error::invalid("a reason is required"));
    }
    let mut tx = pool.begin().await?;
    let current: Option<(String, String)> =
        sqlx::query_as("SELECT state, cloud_id FROM decisions WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let (state, cloud_id) = current.ok_or_else(|| Error::NotFound(format!("no decision {id}")))?;
    let allowed = match action {
        Action::Hold => state == "pending_review",
        Action::Approve | Action::Keep => state == "pending_review" || state == "held",
    };
    if !allowed {
        return Err(Error::Conflict(format!(
            "decision {id} is {state}; only a pending_review{} decision can be {}",
            if action == Action::Hold {
                ""
            } else {
                " or held"
            },
            match action {
                Action::Approve => "approved",
                Action::Hold => "held",
                Action::Keep => "kept",
            }
        )));
    }
    let new_state = match action {
        Action::Approve => "purging",
        Action::Hold => "held",
        Action::Keep => "kept",
    };
    sqlx::query("UPDATE decisions SET state = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(new_state)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let cause = serde_json::json!({"cause": "operator", "actor": actor, "action": action.as_str(), "reason": reason});
    match action {
        Action::Approve => reconcile::start_purge(&mut tx, now, id, &cause).await?,
        Action::Keep => reconcile::keep_decision(&mut tx, now, id, &cause).await?,
        Action::Hold => 0,
    };
    audit(
        &mut tx,
        now,
        AuditRecord {
            actor,
            action: action.as_str(),
            cloud_id: Some(&cloud_id),
            decision_id: Some(id),
            reason,
            detail: serde_json::json!({"from": state, "to": new_state}),
        },
    )
    .await?;
    tx.commit().await?;
    get(pool, id)
        .await?
        .ok_or_else(|| Error::Internal("decision vanished".into()))
}

/// An operator says these objects (or the whole site) are unblocked.
pub async fn unblock(
    pool: &PgPool,
    cloud_id: &str,
    objects: Option<&[(String, String, String)]>,
    actor: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<i64, Error> {
    if reason.trim().is_empty() {
        return Err(Error::invalid("a reason is required"));
    }
    let mut tx = pool.begin().await?;
    let cause = serde_json::json!({"cause": "operator", "actor": actor, "action": "unblock", "reason": reason});
    let n = reconcile::restore_product(&mut tx, now, cloud_id, None, cause, objects).await?;
    let detail = serde_json::json!({
        "restored": n,
        "objects": objects.map(|o| o.iter().map(|(p, t, i)| serde_json::json!({"product": p, "type": t, "id": i})).collect::<Vec<_>>()),
        "all": objects.is_none(),
    });
    audit(
        &mut tx,
        now,
        AuditRecord {
            actor,
            action: "unblock",
            cloud_id: Some(cloud_id),
            decision_id: None,
            reason,
            detail,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub reason: String,
    pub detail: serde_json::Value,
}

pub async fn audit_for_decision(pool: &PgPool, id: Uuid) -> Result<Vec<AuditEntry>, Error> {
    let rows = sqlx::query("SELECT at, actor, action, reason, detail FROM audit_log WHERE decision_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                reason: r.try_get("reason")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}
