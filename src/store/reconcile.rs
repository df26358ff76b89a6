//! The reconciler's set-based steps. Each claims its rows with
//! `FOR UPDATE SKIP LOCKED` inside one statement that also records the
//! transition on the row and writes the outbox message reporting it, so two
//! passes on two replicas never take the same step twice.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::store::policies::DefaultPolicy;
use crate::Error;

pub use super::hide_chunk::{hide_chunk, HideChunk, HideCursor};

/// Largest number of objects one outbox message names.
pub const OBJECTS_PER_MESSAGE: i64 = 1000;

/// The pass's identity and clock, shared by every step.
#[derive(Debug, Clone, Copy)]
pub struct PassContext {
    pub pass_id: Uuid,
    pub now: DateTime<Utc>,
    pub defaults: DefaultPolicy,
}

impl PassContext {
    pub(super) fn action(&self) -> String {
        self.defaults.action.to_string()
    }
    fn grace_secs(&self) -> f64 {
        self.defaults.grace.as_duration().as_secs() as f64
    }
    fn review(&self) -> String {
        self.defaults.review.to_string()
    }
}

/// The effective policy of a blocked_objects row `b` (joined as `p`).
pub(super) const POLICY_JOIN: &str = "LEFT JOIN retention_policies p
       ON p.cloud_id = b.cloud_id AND p.product = b.product AND p.object_type = b.object_type";

/// SQL that writes outbox messages for the rows of CTE `moved`
/// (cloud_id, product, object_type, object_id, decision_id), at most
/// OBJECTS_PER_MESSAGE objects each, grouped by site and decision.
pub(super) fn outbox_insert(kind: &str) -> String {
    format!(
        "numbered AS (
            SELECT m.*, (row_number() OVER (PARTITION BY m.cloud_id, m.decision_id
                         ORDER BY m.product, m.object_type, m.object_id) - 1) / {OBJECTS_PER_MESSAGE} AS part
            FROM moved m
         ), notes AS (
            INSERT INTO outbox (id, cloud_id, kind, decision_id, body, created_at, next_attempt_at)
            SELECT gen_random_uuid(), cloud_id, '{kind}', decision_id,
                   jsonb_build_object('type', '{kind}', 'cloudId', cloud_id, 'decisionId', decision_id,
                       'objects', jsonb_agg(jsonb_build_object('product', product, 'type', object_type,
                                                               'id', object_id)
                                            ORDER BY product, object_type, object_id)),
                   $1, $1
            FROM numbered GROUP BY cloud_id, decision_id, part
            RETURNING id
         )"
    )
}

/// A (site, product, type) group with hidden objects past their grace period.
#[derive(Debug, Clone)]
pub struct DueGroup {
    pub cloud_id: String,
    pub product: String,
    pub object_type: String,
    pub review: String,
    pub objects: i64,
}

pub async fn purge_due_groups(
    conn: &mut PgConnection,
    ctx: &PassContext,
) -> Result<Vec<DueGroup>, Error> {
    let rows = sqlx::query(&format!(
        "SELECT b.cloud_id, b.product, b.object_type, COALESCE(p.review, $4) AS review, count(*) AS n
         FROM blocked_objects b {POLICY_JOIN}
         WHERE b.state = 'hidden' AND NOT b.kept AND COALESCE(p.action, $2) = 'purge'
           AND b.first_blocked_at + make_interval(secs => COALESCE(p.grace_secs, $3)::float8) <= $1
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3"
    ))
    .bind(ctx.now)
    .bind(ctx.action())
    .bind(ctx.grace_secs())
    .bind(ctx.review())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DueGroup {
                cloud_id: r.try_get("cloud_id")?,
                product: r.try_get("product")?,
                object_type: r.try_get("object_type")?,
                review: r.try_get("review")?,
                objects: r.try_get("n")?,
            })
        })
        .collect()
}

/// One purge decision per group for the objects due in it: `pending_review`
/// (or `purging` at once, with the purge message, under `review = auto`).
/// Returns (decisions made, objects decided).
pub async fn decide_groups(
    conn: &mut PgConnection,
    ctx: &PassContext,
    groups: &[DueGroup],
) -> Result<(i64, i64), Error> {
    let col = |f: fn(&DueGroup) -> &str| groups.iter().map(f).collect::<Vec<_>>();
    let sql = format!(
        "WITH g0 AS (
            SELECT gen_random_uuid() AS id, u.cloud_id, u.product, u.object_type, u.review
            FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[]) AS u(cloud_id, product, object_type, review)
         ), g AS (
            -- One transition per group, appended to every row of the group.
            SELECT g0.*, CASE WHEN g0.review = 'auto' THEN 'purging' ELSE 'pending_review' END AS to_state,
                   jsonb_build_object('from', 'hidden',
                       'to', CASE WHEN g0.review = 'auto' THEN 'purging' ELSE 'pending_review' END,
                       'at', $1, 'cause', 'pass', 'pass_id', $9, 'decision_id', g0.id) AS transition
            FROM g0
         ), due AS (
            -- Only what tells the rows apart: the group's values are joined
            -- back from `g` (1000 rows) instead of being carried by each of a
            -- million materialised rows.
            SELECT b.ctid AS row_id, g.id AS decision_id
            FROM blocked_objects b
            JOIN g ON g.cloud_id = b.cloud_id AND g.product = b.product AND g.object_type = b.object_type
            {POLICY_JOIN}
            WHERE b.state = 'hidden' AND NOT b.kept AND COALESCE(p.action, $2) = 'purge'
              AND COALESCE(p.review, $4) = g.review
              AND b.first_blocked_at + make_interval(secs => COALESCE(p.grace_secs, $3)::float8) <= $1
            FOR UPDATE OF b SKIP LOCKED
         ), decided AS (
            INSERT INTO decisions (id, cloud_id, product, object_type, state, review, object_count,
                                   created_at, pass_id, updated_at)
            SELECT g.id, g.cloud_id, g.product, g.object_type, g.to_state, g.review, n.objects,
                   $1, $9, $1
            FROM (SELECT decision_id, count(*) AS objects FROM due GROUP BY decision_id) n
            JOIN g ON g.id = n.decision_id
            RETURNING id
         ), updated AS (
            UPDATE blocked_objects b
            SET state = g.to_state, decision_id = g.id, state_changed_at = $1, updated_at = $1,
                transitions = b.transitions || g.transition
            FROM due JOIN g ON g.id = due.decision_id
            WHERE b.ctid = due.row_id
            RETURNING b.cloud_id, b.product, b.object_type, b.object_id, g.id AS decision_id, g.review
         ), moved AS (
            SELECT cloud_id, product, object_type, object_id, decision_id FROM updated WHERE review = 'auto'
         ), {}
         SELECT (SELECT count(*) FROM decided) AS decisions, (SELECT count(*) FROM updated) AS objects",
        outbox_insert("retention.purge")
    );
    let row = sqlx::query(&sql)
        .bind(ctx.now)
        .bind(ctx.action())
        .bind(ctx.grace_secs())
        .bind(ctx.review())
        .bind(col(|g| &g.cloud_id))
        .bind(col(|g| &g.product))
        .bind(col(|g| &g.object_type))
        .bind(col(|g| &g.review))
        .bind(ctx.pass_id)
        .fetch_one(conn)
        .await?;
    Ok((row.try_get("decisions")?, row.try_get("objects")?))
}

/// Atlassian says the product blocks nothing on the site any more: its
/// blocked, hidden and pending objects are `restored`, their open decisions
/// cancelled, and the app told. Purges already under way are not undone.
/// Returns the number of objects restored.
pub async fn restore_product(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    cloud_id: &str,
    product: Option<&str>,
    cause: serde_json::Value,
    only: Option<&[(String, String, String)]>,
) -> Result<i64, Error> {
    let (ps, ts, ids): (Vec<&str>, Vec<&str>, Vec<&str>) = match only {
        Some(objs) => (
            objs.iter().map(|o| o.0.as_str()).collect(),
            objs.iter().map(|o| o.1.as_str()).collect(),
            objs.iter().map(|o| o.2.as_str()).collect(),
        ),
        None => (vec![], vec![], vec![]),
    };
    let sql = format!(
        "WITH claimed AS (
            SELECT b.cloud_id, b.product, b.object_type, b.object_id, b.state, b.decision_id
            FROM blocked_objects b
            WHERE b.cloud_id = $2 AND ($3::text IS NULL OR b.product = $3)
              AND b.state IN ('blocked', 'hidden', 'pending_review')
              AND ($5 = false OR (b.product, b.object_type, b.object_id) IN
                   (SELECT * FROM UNNEST($6::text[], $7::text[], $8::text[])))
            FOR UPDATE OF b
         ), updated AS (
            UPDATE blocked_objects b
            SET state = 'restored', verified_unblocked_at = $1, state_changed_at = $1, updated_at = $1,
                kept = false,
                transitions = b.transitions || (jsonb_build_object('from', c.state, 'to', 'restored', 'at', $1) || $4)
            FROM claimed c
            WHERE b.cloud_id = c.cloud_id AND b.product = c.product
              AND b.object_type = c.object_type AND b.object_id = c.object_id
            RETURNING b.cloud_id, b.product, b.object_type, b.object_id, c.decision_id AS old_decision
         ), cancelled AS (
            UPDATE decisions d SET state = 'cancelled', updated_at = $1
            WHERE d.id IN (SELECT old_decision FROM updated WHERE old_decision IS NOT NULL)
              AND d.state IN ('pending_review', 'held')
              AND NOT EXISTS (SELECT 1 FROM blocked_objects o
                              WHERE o.decision_id = d.id AND o.state IN ('pending_review', 'purging')
                                AND NOT EXISTS (SELECT 1 FROM updated u WHERE u.cloud_id = o.cloud_id
                                     AND u.product = o.product AND u.object_type = o.object_type
                                     AND u.object_id = o.object_id))
            RETURNING d.id
         ), moved AS (
            SELECT cloud_id, product, object_type, object_id, NULL::uuid AS decision_id FROM updated
         ), {}
         SELECT (SELECT count(*) FROM updated) AS objects, (SELECT count(*) FROM cancelled) AS cancelled,
                (SELECT count(*) FROM notes) AS messages",
        outbox_insert("retention.restore")
    );
    let row = sqlx::query(&sql)
        .bind(now)
        .bind(cloud_id)
        .bind(product)
        .bind(cause)
        .bind(only.is_some())
        .bind(ps)
        .bind(ts)
        .bind(ids)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("objects")?)
}

/// The app acknowledged a purge message: its objects are `purged`, and the
/// decision too once none of its objects is still being purged.
pub async fn complete_purge(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    message_id: Uuid,
) -> Result<i64, Error> {
    let row = sqlx::query(
        "WITH msg AS (SELECT cloud_id, decision_id, body FROM outbox WHERE id = $2),
         objs AS (
            SELECT msg.cloud_id, msg.decision_id, o->>'product' AS product, o->>'type' AS object_type, o->>'id' AS object_id
            FROM msg, jsonb_array_elements(msg.body->'objects') o
         ), updated AS (
            UPDATE blocked_objects b
            SET state = 'purged', state_changed_at = $1, updated_at = $1,
                transitions = b.transitions || jsonb_build_object('from', 'purging', 'to', 'purged', 'at', $1,
                                  'cause', 'acknowledged', 'message_id', $2, 'decision_id', objs.decision_id)
            FROM objs
            WHERE b.cloud_id = objs.cloud_id AND b.product = objs.product AND b.object_type = objs.object_type
              AND b.object_id = objs.object_id AND b.state = 'purging' AND b.decision_id = objs.decision_id
            RETURNING b.decision_id
         ), finished AS (
            UPDATE decisions d SET state = 'purged', updated_at = $1
            WHERE d.id = (SELECT decision_id FROM msg) AND d.state = 'purging'
              AND NOT EXISTS (SELECT 1 FROM blocked_objects o WHERE o.decision_id = d.id AND o.state = 'purging'
                              AND NOT EXISTS (SELECT 1 FROM objs WHERE objs.cloud_id = o.cloud_id
                                   AND objs.product = o.product AND objs.object_type = o.object_type
                                   AND objs.object_id = o.object_id))
            RETURNING d.id
         )
         SELECT (SELECT count(*) FROM updated) AS objects",
    )
    .bind(now)
    .bind(message_id)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("objects")?)
}

/// An approved decision: its pending objects go to `purging` and the app is
/// told to purge them. Returns the number of objects.
pub async fn start_purge(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    decision_id: Uuid,
    cause: &serde_json::Value,
) -> Result<i64, Error> {
    let sql = format!(
        "WITH moved AS (
            UPDATE blocked_objects b
            SET state = 'purging', state_changed_at = $1, updated_at = $1,
                transitions = b.transitions || (jsonb_build_object('from', 'pending_review', 'to', 'purging',
                                  'at', $1, 'decision_id', $2::uuid) || $3)
            WHERE b.decision_id = $2 AND b.state = 'pending_review'
            RETURNING b.cloud_id, b.product, b.object_type, b.object_id, b.decision_id
         ), {}
         SELECT count(*) AS n FROM moved",
        outbox_insert("retention.purge")
    );
    let row = sqlx::query(&sql)
        .bind(now)
        .bind(decision_id)
        .bind(cause)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}

/// A kept decision: its objects return to `hidden`, marked never to be purged
/// in this block cycle.
pub async fn keep_decision(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    decision_id: Uuid,
    cause: &serde_json::Value,
) -> Result<i64, Error> {
    let done = sqlx::query(
        "UPDATE blocked_objects b
         SET state = 'hidden', kept = true, state_changed_at = $1, updated_at = $1,
             transitions = b.transitions || (jsonb_build_object('from', 'pending_review', 'to', 'hidden',
                               'at', $1, 'decision_id', $2::uuid) || $3)
         WHERE b.decision_id = $2 AND b.state = 'pending_review'",
    )
    .bind(now)
    .bind(decision_id)
    .bind(cause)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() as i64)
}
