//! What Atlassian last said about each (site, product), and which pairs are
//! due to be asked again.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, Row};

use crate::Error;

/// Sites with blocks are verified at least this often.
pub const VERIFY_EVERY_HOURS: i64 = 24;

/// (cloud_id, product) pairs with live blocks whose verification is due:
/// never done, older than a day, or asked for early — and not held back by
/// an earlier error or a 429's Retry-After.
pub async fn due_pairs(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT b.cloud_id, b.product
         FROM blocked_objects b
         LEFT JOIN site_verifications v ON v.cloud_id = b.cloud_id AND v.product = b.product
         WHERE b.state IN ('blocked', 'hidden', 'pending_review')
           AND (v.cloud_id IS NULL OR v.last_attempt_at IS NULL
                OR v.last_attempt_at <= $1 - make_interval(hours => $2::int)
                OR v.requested_at IS NOT NULL)
           AND (v.next_attempt_at IS NULL OR v.next_attempt_at <= $1)
         ORDER BY 1, 2",
    )
    .bind(now)
    .bind(VERIFY_EVERY_HOURS as i32)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("cloud_id")?, r.try_get("product")?)))
        .collect()
}

/// Whether a pair may be asked now (not held back by an earlier error).
pub async fn may_ask(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    cloud_id: &str,
    product: &str,
) -> Result<bool, Error> {
    let next: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
        "SELECT next_attempt_at FROM site_verifications WHERE cloud_id = $1 AND product = $2",
    )
    .bind(cloud_id)
    .bind(product)
    .fetch_optional(conn)
    .await?;
    Ok(next.flatten().is_none_or(|n| n <= now))
}

pub async fn record_answer(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    cloud_id: &str,
    product: &str,
    any_blocked: bool,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO site_verifications (cloud_id, product, last_attempt_at, last_success_at, any_blocked)
         VALUES ($1, $2, $3, $3, $4)
         ON CONFLICT (cloud_id, product) DO UPDATE SET
            last_attempt_at = $3, last_success_at = $3, any_blocked = $4, last_error = NULL,
            next_attempt_at = NULL, requested_at = NULL",
    )
    .bind(cloud_id)
    .bind(product)
    .bind(now)
    .bind(any_blocked)
    .execute(conn)
    .await?;
    Ok(())
}

/// An error, a 429 or unavailable verification: nothing changes but the
/// record, and the pair is not asked again before `retry_at`.
pub async fn record_failure(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    cloud_id: &str,
    product: &str,
    error: &str,
    retry_after: Option<Duration>,
) -> Result<(), Error> {
    let retry_at = now + retry_after.unwrap_or_else(|| Duration::minutes(15));
    sqlx::query(
        "INSERT INTO site_verifications (cloud_id, product, last_attempt_at, last_error, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (cloud_id, product) DO UPDATE SET
            last_attempt_at = $3, last_error = $4, next_attempt_at = $5",
    )
    .bind(cloud_id)
    .bind(product)
    .bind(now)
    .bind(error)
    .bind(retry_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Asks for a pair to be verified at the next pass (diagnosis evidence).
pub async fn request(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    cloud_id: &str,
    product: &str,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO site_verifications (cloud_id, product, requested_at) VALUES ($1, $2, $3)
         ON CONFLICT (cloud_id, product) DO UPDATE SET requested_at = $3",
    )
    .bind(cloud_id)
    .bind(product)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
