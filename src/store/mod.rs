//! Postgres access, one file per table family. Functions take a pool or a
//! transaction and speak in `domain` types.

pub mod blocks;
pub mod decisions;
mod hide_chunk;
mod history;
pub mod inbox;
pub mod inbox_at_once;
pub mod observations;
pub mod outbox;
pub mod policies;
pub mod reconcile;
pub mod sessions;
pub mod status;
pub mod status_versions;
pub mod tenants;
pub mod verifications;

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::Error;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A lazily connecting pool: the process starts even when the database is
/// down, and requests then get 503 instead of the process exiting.
pub fn pool(url: &secrecy::SecretString, size: u32, app_name: &str) -> Result<PgPool, Error> {
    let options: PgConnectOptions = url
        .expose_secret()
        .parse()
        .map_err(|e| Error::Internal(format!("DATABASE_URL is not a PostgreSQL URL: {e}")))?;
    let options = options
        .application_name(app_name)
        // A stuck query must not hold a webhook past Atlassian's timeout.
        .options([
            ("statement_timeout", "15s"),
            ("lock_timeout", "10s"),
            // Short OLTP queries only: compiling a plan costs more than it saves,
            // and a misestimated batch lookup would otherwise trigger it.
            ("jit", "off"),
        ]);
    Ok(PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(options))
}

pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Versions of the migrations this database has applied (none when it has
/// never been migrated).
pub async fn applied_migrations(pool: &PgPool) -> Result<Vec<i64>, Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?,
    )
}

/// Errors that mean "the database is not reachable right now" rather than
/// "this statement is wrong": callers answer 503 and the sender retries.
pub fn is_connection_error(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P: operator intervention (shutdown,
            // terminated backend); 53: insufficient resources.
            code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")
        }),
        _ => false,
    }
}

/// Errors that mean "PostgreSQL rolled this transaction back to break a
/// deadlock or a serialization conflict with a concurrent one": nothing was
/// written, and the same transaction again will most likely go through.
pub fn is_contention(err: &sqlx::Error) -> bool {
    // 40001: serialization failure; 40P01: deadlock detected.
    matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|c| c == "40001" || c == "40P01"))
}
