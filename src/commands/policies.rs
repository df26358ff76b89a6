//! `aarc policies set|list`.

use super::cli_pool as pool;
use crate::config::Config;
use crate::domain::CloudId;
use crate::http::policies::{parse_policy, PolicyInput};
use crate::store::{
    decisions::{audit, AuditRecord},
    policies,
};
use crate::Error;

pub async fn set(config: &Config, site: &str, input: PolicyInput) -> Result<(), Error> {
    let site = CloudId::parse(site).map_err(Error::InvalidRequest)?;
    let policy = parse_policy(&input, config.default_grace, config.default_review)
        .map_err(Error::InvalidRequest)?;
    let pool = pool(config).await?;
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    policies::put(&pool, &site, std::slice::from_ref(&policy), &actor).await?;
    let detail = serde_json::json!({"product": policy.product, "type": policy.object_type,
        "action": policy.action.to_string(), "grace": policy.grace.to_string(), "review": policy.review.to_string()});
    let mut conn = pool.acquire().await?;
    audit(
        &mut conn,
        chrono::Utc::now(),
        AuditRecord {
            actor: &actor,
            action: "set_policy",
            cloud_id: Some(site.as_str()),
            decision_id: None,
            reason: "set from the CLI",
            detail,
        },
    )
    .await?;
    println!(
        "{site} {} {}: {} after {} (review {})",
        policy.product, policy.object_type, policy.action, policy.grace, policy.review
    );
    Ok(())
}

pub async fn list(config: &Config, site: &str) -> Result<(), Error> {
    let site = CloudId::parse(site).map_err(Error::InvalidRequest)?;
    let rows = policies::list(&pool(config).await?, &site).await?;
    println!(
        "default: {} after {} (review {})",
        config.default_action, config.default_grace, config.default_review
    );
    for p in rows {
        println!(
            "{} {}: {} after {} (review {}), set by {} at {}",
            p.product,
            p.object_type,
            p.action,
            p.grace,
            p.review,
            p.updated_by,
            p.updated_at.to_rfc3339()
        );
    }
    Ok(())
}
