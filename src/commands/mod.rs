//! What each CLI command does; `main.rs` only parses arguments.

pub mod tenants;

use crate::config::Config;
use crate::startup::{database_url, Application};
use crate::{store, Error};

pub async fn serve(config: Config) -> Result<(), Error> {
    let app = Application::build(config).await?;
    tracing::info!(port = app.port(), "aarc is serving");
    app.run_until_stopped().await
}

pub async fn migrate(config: &Config) -> Result<(), Error> {
    let (url, _local) = database_url(config).await?;
    let pool = store::pool(&url, 2, "aarc-migrate")?;
    let pending = store::MIGRATOR.iter().count();
    eprintln!("applying up to {pending} migrations…");
    store::migrate(&pool).await?;
    eprintln!("database schema is up to date");
    Ok(())
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
