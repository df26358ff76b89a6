//! Per-site change counters (migration 7): every committed change to a
//! site's blocks or retention policies raises the sum of its counters, so an
//! in-memory copy read with sum `v` is current while the sum is still `v`.

use futures_util::TryStreamExt;
use sqlx::PgPool;

use crate::domain::{CloudId, ObjectState, RetentionAction};
use crate::Error;

/// The site's current version: one index range scan over a few rows.
pub async fn current(conn: impl sqlx::PgExecutor<'_>, site: &CloudId) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(sum(version), 0)::bigint FROM status_versions WHERE cloud_id = $1",
    )
    .bind(site.as_str())
    .fetch_one(conn)
    .await?)
}

/// The versions of several sites in one query (sites without counters
/// are left out: their version is 0).
pub async fn current_many(
    conn: &mut sqlx::PgConnection,
    sites: &[&str],
) -> Result<std::collections::HashMap<String, i64>, Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT cloud_id, sum(version)::bigint FROM status_versions
         WHERE cloud_id = ANY($1) GROUP BY cloud_id",
    )
    .bind(sites)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The statement that adds one to this backend's counter of every site
/// `sites` (a query of one `cloud_id` column) names. Inserting block rows
/// runs it in the same statement (see `blocks::insert_from`): unlike
/// updates and deletes, inserts have no trigger, because capturing each
/// inserted row for one was a sixth of a large event's cost.
pub(crate) fn bump_sql(sites: &str) -> String {
    format!(
        "INSERT INTO status_versions AS v (cloud_id, backend, version)
         SELECT DISTINCT cloud_id, pg_backend_pid(), 1 FROM ({sites}) AS sites ORDER BY 1
         ON CONFLICT (cloud_id, backend) DO UPDATE SET version = v.version + 1"
    )
}

/// Every site's version, in site order. Every site that ever had a block
/// or a policy has counters (the triggers of migration 7 write them).
pub async fn all_sites(conn: &mut sqlx::PgConnection) -> Result<Vec<(String, i64)>, Error> {
    Ok(sqlx::query_as(
        "SELECT cloud_id, sum(version)::bigint FROM status_versions GROUP BY cloud_id ORDER BY 1",
    )
    .fetch_all(conn)
    .await?)
}

/// One blocked object as the in-memory copy keeps it.
pub struct BlockRow {
    pub product: String,
    pub object_type: String,
    pub object_id: String,
    pub state: ObjectState,
    pub kept: bool,
    pub first_blocked_at: chrono::DateTime<chrono::Utc>,
    pub decision_id: Option<uuid::Uuid>,
}

/// A site's retention policy for one product and type.
pub struct PolicyRow {
    pub product: String,
    pub object_type: String,
    pub action: RetentionAction,
    pub grace_secs: i64,
}

/// What a copy of one site is built from, all read in one snapshot.
pub trait SiteSink {
    fn version(&mut self, version: i64);
    fn policy(&mut self, policy: PolicyRow);
    /// `Err` stops the read (the copy grew past what memory allows).
    fn block(&mut self, block: BlockRow) -> Result<(), Error>;
}

/// Reads the site's version, policies and blocks in one REPEATABLE READ
/// transaction, so the version names exactly the state that was read.
pub async fn read_site(
    pool: &PgPool,
    site: &CloudId,
    sink: &mut impl SiteSink,
) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    sink.version(current(&mut *tx, site).await?);
    let policies: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT product, object_type, action, grace_secs FROM retention_policies WHERE cloud_id = $1",
    )
    .bind(site.as_str())
    .fetch_all(&mut *tx)
    .await?;
    for (product, object_type, action, grace_secs) in policies {
        let action = RetentionAction::parse(&action).map_err(Error::Internal)?;
        sink.policy(PolicyRow {
            product,
            object_type,
            action,
            grace_secs,
        });
    }
    let mut rows = sqlx::query_as::<
        _,
        (
            String,
            String,
            String,
            String,
            bool,
            chrono::DateTime<chrono::Utc>,
            Option<uuid::Uuid>,
        ),
    >(
        "SELECT product, object_type, object_id, state, kept, first_blocked_at, decision_id
         FROM blocked_objects WHERE cloud_id = $1",
    )
    .bind(site.as_str())
    .fetch(&mut *tx);
    while let Some((product, object_type, object_id, state, kept, first_blocked_at, decision_id)) =
        rows.try_next().await?
    {
        let state = ObjectState::parse(&state).map_err(Error::Internal)?;
        sink.block(BlockRow {
            product,
            object_type,
            object_id,
            state,
            kept,
            first_blocked_at,
            decision_id,
        })?;
    }
    drop(rows);
    tx.commit().await?;
    Ok(())
}

/// Folds the counters of backends that have exited into backend 0, keeping
/// every site's sum; returns how many rows were folded. Rows a live
/// transaction holds are skipped, and only one replica folds at a time.
pub async fn fold_departed(pool: &PgPool) -> Result<u64, Error> {
    let mut tx = pool.begin().await?;
    let ours: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtext('aarc status_versions fold'))",
    )
    .fetch_one(&mut *tx)
    .await?;
    if !ours {
        return Ok(0);
    }
    let folded: i64 = sqlx::query_scalar(
        "WITH gone AS (
             DELETE FROM status_versions
             WHERE (cloud_id, backend) IN (
                 SELECT cloud_id, backend FROM status_versions
                 WHERE backend <> 0 AND backend NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
                 FOR UPDATE SKIP LOCKED)
             RETURNING cloud_id, version),
         per_site AS (SELECT cloud_id, sum(version)::bigint AS version FROM gone GROUP BY cloud_id),
         folded AS (
             INSERT INTO status_versions AS v (cloud_id, backend, version)
             SELECT cloud_id, 0, version FROM per_site ORDER BY cloud_id
             ON CONFLICT (cloud_id, backend) DO UPDATE SET version = v.version + EXCLUDED.version)
         SELECT count(*) FROM gone",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(folded.unsigned_abs())
}
