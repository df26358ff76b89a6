//! `aarc tenants add|list|remove`.

use super::cli_pool as pool;
use crate::config::Config;
use crate::http::admin::registration;
use crate::store::tenants;
use crate::Error;

pub async fn add(
    config: &Config,
    client_key: &str,
    shared_secret: &str,
    base_url: &str,
    cloud_id: &str,
) -> Result<(), Error> {
    let reg = registration(client_key, shared_secret, base_url, cloud_id)?;
    let (tenant, created) = tenants::upsert_connect(&pool(config).await?, &reg).await?;
    println!(
        "{} Connect tenant {} for site {}",
        if created { "added" } else { "updated" },
        tenant.key,
        tenant.cloud_id
    );
    Ok(())
}

pub async fn list(config: &Config, json: bool) -> Result<(), Error> {
    let rows = tenants::list(&pool(config).await?).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("no tenants yet: add one with `aarc tenants add`, or let a Forge app invoke aarc");
        return Ok(());
    }
    println!(
        "{:<8} {:<40} {:<38} {:<10} BASE URL",
        "KIND", "KEY", "CLOUD ID", "STATE"
    );
    for t in rows {
        println!(
            "{:<8} {:<40} {:<38} {:<10} {}",
            t.kind,
            t.key,
            t.cloud_id,
            if t.installed { "installed" } else { "removed" },
            t.base_url.unwrap_or_default()
        );
    }
    Ok(())
}

pub async fn remove(config: &Config, client_key: &str) -> Result<(), Error> {
    if tenants::remove_connect(&pool(config).await?, client_key).await? {
        println!("removed Connect tenant {client_key}; its records are kept, its events refused");
        Ok(())
    } else {
        Err(Error::NotFound(format!(
            "no Connect tenant with clientKey {client_key:?}"
        )))
    }
}
