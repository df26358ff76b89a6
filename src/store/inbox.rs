//! The inbox (every acknowledged event, once) and the block tables it feeds.
//! One request's events are written in one transaction; the caller answers
//! 2xx only after `commit` returns.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use crate::domain::{ContainerRef, EventKind, ObjectRef, PolicyEvent, ReceiveMode, Tenant};
use crate::store::tenants;
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Applied,
    Ignored,
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Ignored => "ignored",
            Self::Duplicate => "duplicate",
        }
    }
}

/// Records one event and applies its effect, unless (site, source, id) was
/// seen before, in which case nothing at all changes.
pub async fn record(
    conn: &mut PgConnection,
    tenant: &Tenant,
    mode: ReceiveMode,
    event: &PolicyEvent,
) -> Result<Outcome, Error> {
    let status = if event.is_ignored() {
        "ignored"
    } else {
        "applied"
    };
    let inserted = sqlx::query(
        "INSERT INTO inbox_events (cloud_id, source, event_id, event_type, event_time, mode,
                                   tenant_id, status, raw)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT ON CONSTRAINT inbox_once_per_site DO NOTHING
         RETURNING id, received_at",
    )
    .bind(tenant.cloud_id.as_str())
    .bind(&event.source)
    .bind(&event.id)
    .bind(&event.event_type)
    .bind(event.time)
    .bind(mode.as_str())
    .bind(tenant.id)
    .bind(status)
    .bind(&event.raw)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = inserted else {
        return Ok(Outcome::Duplicate);
    };
    let inbox_id: i64 = row.try_get("id")?;
    let received_at: DateTime<Utc> = row.try_get("received_at")?;
    // A block counts from the earlier of the event's own time and its receipt.
    let blocked_at = event.time.map_or(received_at, |t| t.min(received_at));
    match &event.kind {
        EventKind::ObjectsBlocked(objects) => {
            block_objects(conn, tenant, objects, blocked_at, inbox_id).await?
        }
        EventKind::ContentBlockedInContainer(container) => {
            block_container(conn, tenant, container, blocked_at, inbox_id).await?
        }
        EventKind::ForgeInstalled => tenants::set_installed(conn, tenant.id, true).await?,
        EventKind::ForgeUninstalled => tenants::set_installed(conn, tenant.id, false).await?,
        EventKind::Unknown => return Ok(Outcome::Ignored),
    }
    Ok(Outcome::Applied)
}

/// One statement for all the objects of an event (UNNEST), whatever their
/// number. An event may name an object twice; Postgres refuses to update a row
/// twice in one statement, so the list is de-duplicated first.
async fn block_objects(
    conn: &mut PgConnection,
    tenant: &Tenant,
    objects: &[ObjectRef],
    blocked_at: DateTime<Utc>,
    inbox_id: i64,
) -> Result<(), Error> {
    let unique: BTreeSet<&ObjectRef> = objects.iter().collect();
    let mut products = Vec::with_capacity(unique.len());
    let mut types = Vec::with_capacity(unique.len());
    let mut ids = Vec::with_capacity(unique.len());
    for o in unique {
        products.push(o.product.as_str());
        types.push(o.object_type.as_str());
        ids.push(o.id.as_str());
    }
    sqlx::query(
        "INSERT INTO blocked_objects AS b (cloud_id, product, object_type, object_id,
                                           first_blocked_at, last_blocked_at,
                                           first_inbox_id, last_inbox_id, inbox_ids)
         SELECT $1, u.product, u.object_type, u.object_id, $5, $5, $6, $6, ARRAY[$6::bigint]
         FROM UNNEST($2::text[], $3::text[], $4::text[]) AS u(product, object_type, object_id)
         ON CONFLICT (cloud_id, product, object_type, object_id) DO UPDATE SET
            -- A restored or purged object blocked again starts a new cycle;
            -- an event older than its verified unblock changes nothing but history.
            state = CASE WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                         THEN 'blocked' ELSE b.state END,
            kept = CASE WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                        THEN false ELSE b.kept END,
            decision_id = CASE WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                               THEN NULL ELSE b.decision_id END,
            state_changed_at = CASE WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                                    THEN now() ELSE b.state_changed_at END,
            transitions = CASE WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                               THEN b.transitions || jsonb_build_object('from', b.state, 'to', 'blocked',
                                    'at', now(), 'cause', 'event', 'inbox_id', EXCLUDED.first_inbox_id)
                               ELSE b.transitions END,
            first_inbox_id = CASE
                WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                  OR (EXCLUDED.first_blocked_at < b.first_blocked_at
                      AND NOT aarc_stale_block(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at))
                THEN EXCLUDED.first_inbox_id ELSE b.first_inbox_id END,
            first_blocked_at = CASE
                WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                THEN EXCLUDED.first_blocked_at
                WHEN aarc_stale_block(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                THEN b.first_blocked_at
                ELSE LEAST(b.first_blocked_at, EXCLUDED.first_blocked_at) END,
            last_inbox_id = CASE WHEN EXCLUDED.last_blocked_at >= b.last_blocked_at
                                 THEN EXCLUDED.last_inbox_id ELSE b.last_inbox_id END,
            last_blocked_at = GREATEST(b.last_blocked_at, EXCLUDED.last_blocked_at),
            inbox_ids = CASE WHEN cardinality(b.inbox_ids) < 1000
                             THEN b.inbox_ids || EXCLUDED.inbox_ids ELSE b.inbox_ids END,
            updated_at = now()",
    )
    .bind(tenant.cloud_id.as_str())
    .bind(&products)
    .bind(&types)
    .bind(&ids)
    .bind(blocked_at)
    .bind(inbox_id)
    .execute(conn)
    .await?;
    Ok(())
}

async fn block_container(
    conn: &mut PgConnection,
    tenant: &Tenant,
    container: &ContainerRef,
    blocked_at: DateTime<Utc>,
    inbox_id: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO blocked_containers AS c (cloud_id, product, container_id, first_blocked_at,
                                              last_blocked_at, first_inbox_id, last_inbox_id,
                                              inbox_ids)
         VALUES ($1, $2, $3, $4, $4, $5, $5, ARRAY[$5::bigint])
         ON CONFLICT (cloud_id, product, container_id) DO UPDATE SET
            first_inbox_id = CASE WHEN EXCLUDED.first_blocked_at < c.first_blocked_at
                                  THEN EXCLUDED.first_inbox_id ELSE c.first_inbox_id END,
            first_blocked_at = LEAST(c.first_blocked_at, EXCLUDED.first_blocked_at),
            last_inbox_id = CASE WHEN EXCLUDED.last_blocked_at >= c.last_blocked_at
                                 THEN EXCLUDED.last_inbox_id ELSE c.last_inbox_id END,
            last_blocked_at = GREATEST(c.last_blocked_at, EXCLUDED.last_blocked_at),
            inbox_ids = CASE WHEN cardinality(c.inbox_ids) < 1000
                             THEN c.inbox_ids || EXCLUDED.inbox_ids ELSE c.inbox_ids END",
    )
    .bind(tenant.cloud_id.as_str())
    .bind(container.product.as_str())
    .bind(&container.id)
    .bind(blocked_at)
    .bind(inbox_id)
    .execute(conn)
    .await?;
    Ok(())
}
