//! Notifications waiting to reach the app: claimed by one sender at a time,
//! retried with exponential backoff and jitter, dead after MAX_ATTEMPTS.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::Error;

pub const MAX_ATTEMPTS: i32 = 12;
/// How long a claimed message is reserved for the sender that claimed it.
const CLAIM_SECS: i64 = 60;

#[derive(Debug, Clone)]
pub struct Message {
    pub id: Uuid,
    pub kind: String,
    pub decision_id: Option<Uuid>,
    pub body: serde_json::Value,
    pub attempts: i32,
}

/// Claims up to `limit` due messages and counts the attempt.
pub async fn claim_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Message>, Error> {
    let rows = sqlx::query(
        "UPDATE outbox SET locked_until = $2, attempts = attempts + 1
         WHERE id IN (SELECT id FROM outbox
                      WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $1
                        AND (locked_until IS NULL OR locked_until <= $1)
                      ORDER BY next_attempt_at, created_at LIMIT $3
                      FOR UPDATE SKIP LOCKED)
         RETURNING id, kind, decision_id, body, attempts",
    )
    .bind(now)
    .bind(now + Duration::seconds(CLAIM_SECS))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Message {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                decision_id: r.try_get("decision_id")?,
                body: r.try_get("body")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .collect()
}

pub async fn mark_delivered(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE outbox SET delivered_at = $2, locked_until = NULL, last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Exponential backoff (30 s doubling, at most 6 h) with ±25 % jitter so that
/// messages that failed together do not retry together.
pub fn backoff(attempts: i32, jitter_unit: f64) -> Duration {
    let base = 30.0 * 2f64.powi((attempts - 1).clamp(0, 20));
    let capped = base.min(6.0 * 3600.0);
    let factor = 0.75 + 0.5 * jitter_unit.clamp(0.0, 1.0);
    Duration::milliseconds((capped * factor * 1000.0) as i64)
}

/// Records a failed attempt; returns true when the message is now dead.
pub async fn mark_failed(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    message: &Message,
    error: &str,
    not_before: Option<DateTime<Utc>>,
) -> Result<bool, Error> {
    let dead = message.attempts >= MAX_ATTEMPTS;
    let jitter = (message.id.as_u128() % 1000) as f64 / 1000.0;
    let next = (now + backoff(message.attempts, jitter)).max(not_before.unwrap_or(now));
    sqlx::query(
        "UPDATE outbox SET locked_until = NULL, last_error = $2, next_attempt_at = $3,
                           dead_at = CASE WHEN $4 THEN $5 ELSE NULL END
         WHERE id = $1",
    )
    .bind(message.id)
    .bind(error)
    .bind(next)
    .bind(dead)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(dead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        assert_eq!(backoff(1, 0.5).num_seconds(), 30);
        assert_eq!(backoff(2, 0.5).num_seconds(), 60);
        assert_eq!(backoff(30, 0.5).num_seconds(), 6 * 3600);
        assert!(backoff(3, 0.0) < backoff(3, 1.0));
    }
}
