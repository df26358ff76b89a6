//! An object's history for the app's services and operators: the events
//! that named it, its state transitions, and what the app observed.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use crate::domain::{CloudId, ObjectRef};
use crate::Error;

/// One entry of an object's history.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// `event` (a policy event that named the object), `transition` (a
    /// state change, with its cause: a pass, a verification, an operator) or
    /// `observation` (what the app's services saw when calling Atlassian).
    pub kind: String,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// For transitions: what caused it (pass id, decision id, operator, reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<serde_json::Value>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub event_source: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
    pub mode: Option<String>,
    /// For `observation` entries: what the app saw and how aarc classified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation: Option<serde_json::Value>,
}

pub async fn history(
    pool: &PgPool,
    site: &CloudId,
    object: &ObjectRef,
) -> Result<Vec<HistoryEntry>, Error> {
    let mut entries = event_history(pool, site, object).await?;
    let transitions: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT transitions FROM blocked_objects
         WHERE cloud_id = $1 AND product = $2 AND object_type = $3 AND object_id = $4",
    )
    .bind(site.as_str())
    .bind(object.product.as_str())
    .bind(&object.object_type)
    .bind(&object.id)
    .fetch_optional(pool)
    .await?;
    for t in transitions
        .as_ref()
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let Some(at) = t
            .get("at")
            .and_then(|v| v.as_str())
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        else {
            continue;
        };
        let mut cause = t.clone();
        if let Some(map) = cause.as_object_mut() {
            for k in ["from", "to", "at"] {
                map.remove(k);
            }
        }
        entries.push(HistoryEntry {
            kind: "transition".into(),
            at: at.with_timezone(&Utc),
            from: t.get("from").and_then(|v| v.as_str()).map(str::to_string),
            to: t.get("to").and_then(|v| v.as_str()).map(str::to_string),
            cause: Some(cause),
            event_id: None,
            event_type: None,
            event_source: None,
            event_time: None,
            received_at: None,
            mode: None,
            observation: None,
        });
    }
    for o in crate::store::observations::for_object(pool, site, object, 1000).await? {
        entries.push(HistoryEntry {
            kind: "observation".into(),
            at: o.observed_at,
            from: None,
            to: None,
            cause: None,
            event_id: None,
            event_type: None,
            event_source: None,
            event_time: None,
            received_at: Some(o.received_at),
            mode: None,
            observation: Some(serde_json::to_value(&o).unwrap_or_default()),
        });
    }
    // Oldest first; an event and the transition it caused keep that order.
    entries.sort_by_key(|e| (e.at, e.kind != "event"));
    Ok(entries)
}

/// The events that named the object, oldest first.
pub async fn event_history(
    pool: &PgPool,
    site: &CloudId,
    object: &ObjectRef,
) -> Result<Vec<HistoryEntry>, Error> {
    let rows = sqlx::query(
        "SELECT e.event_id, e.event_type, e.source, e.event_time, e.received_at, e.mode
         FROM blocked_objects b JOIN inbox_events e ON e.id = ANY (b.inbox_ids)
         WHERE b.cloud_id = $1 AND b.product = $2 AND b.object_type = $3 AND b.object_id = $4
         ORDER BY LEAST(COALESCE(e.event_time, e.received_at), e.received_at), e.id",
    )
    .bind(site.as_str())
    .bind(object.product.as_str())
    .bind(&object.object_type)
    .bind(&object.id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let received: DateTime<Utc> = r.try_get("received_at")?;
            let time: Option<DateTime<Utc>> = r.try_get("event_time")?;
            Ok(HistoryEntry {
                kind: "event".into(),
                at: time.map_or(received, |t| t.min(received)),
                from: None,
                to: None,
                cause: None,
                event_id: r.try_get("event_id")?,
                event_type: r.try_get("event_type")?,
                event_source: r.try_get("source")?,
                event_time: time,
                received_at: Some(received),
                mode: r.try_get("mode")?,
                observation: None,
            })
        })
        .collect()
}
