//! The reconciler's hide step, one chunk of one site at a time
//! (`reconcile::hide_scan` walks the sites): blocked objects whose policy
//! hides them become `hidden`, and the app is told in the same statement.

use sqlx::{PgConnection, Row};

use super::reconcile::{outbox_insert, PassContext, POLICY_JOIN};
use crate::Error;

/// The key of the last row a site's hide scan claimed: the next chunk
/// starts after it. Ordered as the primary key is, after the site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HideCursor {
    pub object_id: String,
    pub product: String,
    pub object_type: String,
}

/// What one chunk of a site's hide scan did.
#[derive(Debug)]
pub struct HideChunk {
    pub hidden: i64,
    pub messages: i64,
    /// Where the next chunk starts; `None` when the site is done.
    pub next: Option<HideCursor>,
    /// Rows this chunk should have hidden but did not take: locked by
    /// another transaction (`SKIP LOCKED`), or changed since the statement
    /// began. A transaction that locked a row and then rolled back changes
    /// no counter, so the site must be scanned again at the next pass.
    pub skipped: bool,
}

/// One chunk of a site's blocked objects whose policy hides them: they
/// become `hidden` and the app is told. Rows are read in key order after
/// `after` (the empty cursor sorts before every key), so a site is walked
/// once however many chunks it takes.
pub async fn hide_chunk(
    conn: &mut PgConnection,
    ctx: &PassContext,
    site: &str,
    after: &HideCursor,
    limit: i64,
) -> Result<HideChunk, Error> {
    let sql = format!(
        "WITH candidates AS (
            -- The chunk's key range: read once, without locks ...
            SELECT b.ctid AS row_id, b.object_id, b.product, b.object_type
            FROM blocked_objects b {POLICY_JOIN}
            WHERE b.cloud_id = $5 AND (b.object_id, b.product, b.object_type) > ($6, $7, $8)
              AND b.state = 'blocked' AND NOT b.kept AND COALESCE(p.action, $3) IN ('hide', 'purge')
            ORDER BY b.object_id, b.product, b.object_type
            LIMIT $4
         ), claimed AS (
            -- ... then locked by row address. A row another transaction
            -- holds is skipped; one changed since the range was read has a
            -- new address and is left out: either way fewer are claimed.
            SELECT b.ctid AS row_id FROM blocked_objects b
            WHERE b.ctid = ANY (ARRAY(SELECT row_id FROM candidates))
            FOR UPDATE OF b SKIP LOCKED
         ), moved AS (
            -- The rows are locked, so their ctid is stable for this statement;
            -- joining on it is much cheaper than on the four key columns.
            UPDATE blocked_objects b
            SET state = 'hidden', state_changed_at = $1, updated_at = $1,
                transitions = b.transitions || $2::jsonb
            FROM claimed c
            WHERE b.ctid = c.row_id
            RETURNING b.cloud_id, b.product, b.object_type, b.object_id, NULL::uuid AS decision_id
         ), last AS (
            SELECT object_id, product, object_type FROM candidates
            ORDER BY object_id DESC, product DESC, object_type DESC LIMIT 1
         ), {}
         SELECT (SELECT count(*) FROM moved) AS objects, (SELECT count(*) FROM notes) AS messages,
                (SELECT count(*) FROM candidates) AS candidates,
                (SELECT count(*) FROM claimed) AS claimed,
                (SELECT object_id FROM last) AS last_id, (SELECT product FROM last) AS last_product,
                (SELECT object_type FROM last) AS last_type",
        outbox_insert("retention.hide")
    );
    // The transition is the same for every row of the pass: built once here.
    let transition = serde_json::json!({
        "from": "blocked", "to": "hidden", "at": ctx.now, "cause": "pass", "pass_id": ctx.pass_id,
    });
    let row = sqlx::query(&sql)
        .bind(ctx.now)
        .bind(transition)
        .bind(ctx.action())
        .bind(limit)
        .bind(site)
        .bind(&after.object_id)
        .bind(&after.product)
        .bind(&after.object_type)
        .fetch_one(conn)
        .await?;
    let hidden: i64 = row.try_get("objects")?;
    let candidates: i64 = row.try_get("candidates")?;
    let claimed: i64 = row.try_get("claimed")?;
    let next = match row.try_get::<Option<String>, _>("last_id")? {
        Some(object_id) if candidates >= limit => Some(HideCursor {
            object_id,
            product: row.try_get("last_product")?,
            object_type: row.try_get("last_type")?,
        }),
        _ => None,
    };
    Ok(HideChunk {
        hidden,
        messages: row.try_get("messages")?,
        next,
        skipped: claimed < candidates || hidden < claimed,
    })
}
