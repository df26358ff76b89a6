//! What each CLI command does; `main.rs` only parses arguments.

pub mod decisions;
pub mod policies;
pub mod send;
pub mod tenants;

use crate::config::Config;
use crate::startup::{database_url, Application};
use crate::{store, Error};

/// A small pool for one CLI command, with the schema brought up to date.
pub(crate) async fn cli_pool(config: &Config) -> Result<sqlx::PgPool, Error> {
    let (url, _local) = database_url(config).await?;
    let pool = store::pool(&url, 2, "aarc-cli")?;
    store::migrate(&pool).await?;
    Ok(pool)
}

pub async fn serve(config: Config) -> Result<(), Error> {
    let app = Application::build(config).await?;
    tracing::info!(port = app.port(), "aarc is serving");
    app.run_until_stopped().await
}

pub async fn migrate(config: &Config) -> Result<(), Error> {
    let (url, _local) = database_url(config).await?;
    let pool = store::pool(&url, 2, "aarc-migrate")?;
    let applied = store::applied_migrations(&pool).await?;
    let pending: Vec<_> = store::MIGRATOR
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect();
    if pending.is_empty() {
        eprintln!(
            "database schema is up to date ({} migrations)",
            applied.len()
        );
        return Ok(());
    }
    eprintln!("applying {} migration(s):", pending.len());
    for m in &pending {
        eprintln!("  {} {}", m.version, m.description);
    }
    let started = std::time::Instant::now();
    store::migrate(&pool).await?;
    eprintln!(
        "database schema is up to date ({:.1}s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `aarc healthcheck`: exits 0 when the server on `url` (default: the
/// listen address) answers `/readyz` with 200 — for container health checks,
/// which should not need curl in the image.
pub async fn healthcheck(config: &Config, url: Option<&str>) -> Result<(), Error> {
    let mut target = send::webhook_url(url, &config.listen)?;
    target.set_path("/readyz");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
    match client.get(target.clone()).send().await {
        Ok(r) if r.status().is_success() => {
            println!("ready");
            Ok(())
        }
        Ok(r) => Err(Error::Unavailable(format!(
            "{target} answered HTTP {}",
            r.status()
        ))),
        Err(e) => Err(Error::Unavailable(format!("{target}: {e}"))),
    }
}

/// `aarc local-db start|stop|url`: the self-managed cluster, for scripts.
pub async fn local_db(config: &Config, action: &str) -> Result<(), Error> {
    use crate::localdb::LocalDb;
    match action {
        "start" => {
            let db = LocalDb::ensure(&config.data_dir)
                .await
                .map_err(Error::Internal)?;
            println!("{}", db.url());
        }
        "stop" => match LocalDb::status(&config.data_dir)
            .await
            .map_err(Error::Internal)?
        {
            Some(db) => db.stop().await.map_err(Error::Internal)?,
            None => eprintln!("the local cluster is not running"),
        },
        "status" => match LocalDb::status(&config.data_dir)
            .await
            .map_err(Error::Internal)?
        {
            Some(db) => println!("running {}", db.url()),
            None => {
                println!("stopped");
                std::process::exit(3);
            }
        },
        other => return Err(Error::invalid(format!("unknown local-db action {other}"))),
    }
    Ok(())
}

/// `aarc reconcile --once [--now T] [--dry-run]`: one pass, printed.
pub async fn reconcile_once(
    config: Config,
    now: Option<chrono::DateTime<chrono::Utc>>,
    dry_run: bool,
) -> Result<(), Error> {
    let (url, _local) = database_url(&config).await?;
    let pool = store::pool(&url, 4, "aarc-reconcile")?;
    store::migrate(&pool).await?;
    let reconciler = std::sync::Arc::new(crate::reconcile::Reconciler::new(
        pool,
        std::sync::Arc::new(config),
    ));
    let report = reconciler
        .run_pass(now.unwrap_or_else(chrono::Utc::now), dry_run)
        .await?;
    println!("{report}");
    Ok(())
}

/// `aarc reconcile` without --once: passes on the configured interval until interrupted.
pub async fn reconcile_forever(config: Config) -> Result<(), Error> {
    let (url, _local) = database_url(&config).await?;
    let pool = store::pool(&url, 4, "aarc-reconcile")?;
    store::migrate(&pool).await?;
    let interval = config.reconcile_interval.as_duration();
    let reconciler = std::sync::Arc::new(crate::reconcile::Reconciler::new(
        pool,
        std::sync::Arc::new(config),
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(reconciler.run_forever(interval, stopped));
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop.send(true);
    let _ = worker.await;
    Ok(())
}
