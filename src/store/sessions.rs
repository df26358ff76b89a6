//! Web-page sessions: a random id in an HttpOnly cookie, its hash in the
//! database (so every replica knows it), and a per-session anti-forgery token.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::Error;

/// How long a sign-in lasts.
pub const SESSION_HOURS: i64 = 12;

pub struct Session {
    pub operator: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// 244 bits from the operating system's random source (UUID v4 uses getrandom).
fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn hash(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

/// Starts a session for `operator`; returns the cookie value.
pub async fn create(pool: &PgPool, operator: &str) -> Result<String, Error> {
    let id = random_token();
    sqlx::query(
        "INSERT INTO ui_sessions (id_hash, operator, csrf_token, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(hours => $4))",
    )
    .bind(hash(&id))
    .bind(operator)
    .bind(random_token())
    .bind(SESSION_HOURS as i32)
    .execute(pool)
    .await?;
    // Expired sessions are swept whenever someone signs in.
    sqlx::query("DELETE FROM ui_sessions WHERE expires_at < now()")
        .execute(pool)
        .await?;
    Ok(id)
}

/// The live session behind a cookie value, if any.
pub async fn find(pool: &PgPool, id: &str) -> Result<Option<Session>, Error> {
    let row: Option<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT operator, csrf_token, expires_at FROM ui_sessions
         WHERE id_hash = $1 AND expires_at > now()",
    )
    .bind(hash(id))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(operator, csrf_token, expires_at)| Session {
        operator,
        csrf_token,
        expires_at,
    }))
}

pub async fn end(pool: &PgPool, id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM ui_sessions WHERE id_hash = $1")
        .bind(hash(id))
        .execute(pool)
        .await?;
    Ok(())
}
