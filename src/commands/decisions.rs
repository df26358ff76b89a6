//! `aarc decisions list|show|approve|hold|keep`: the operator's review queue
//! from a terminal. Tables for people, `--json` for scripts.

use super::cli_pool as pool;
use crate::config::Config;
use crate::http::decisions::decision_id as parse_id;
use crate::store::decisions::{self, Action, DecisionView};
use crate::Error;

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub async fn list(
    config: &Config,
    state: Option<&str>,
    site: Option<&str>,
    limit: i64,
    json: bool,
) -> Result<(), Error> {
    if !(1..=1000).contains(&limit) {
        return Err(Error::invalid("--limit must be from 1 to 1000"));
    }
    if let Some(s) = state {
        if !crate::http::decisions::DECISION_STATES.contains(&s) {
            return Err(Error::invalid(format!(
                "--state {s:?} is not one of {}",
                crate::http::decisions::DECISION_STATES.join(", ")
            )));
        }
    }
    let rows = decisions::list(&pool(config).await?, state, site, limit, None).await?;
    if json {
        print_json(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        println!(
            "no decisions{}: the reconciler creates one when blocked objects are due for purging",
            state.map(|s| format!(" in state {s}")).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{:<36}  {:<15}  {:<24}  {:<10}  {:<12}  {:>7}  CREATED",
        "ID", "STATE", "SITE", "PRODUCT", "TYPE", "OBJECTS"
    );
    for d in &rows {
        println!(
            "{:<36}  {:<15}  {:<24}  {:<10}  {:<12}  {:>7}  {}",
            d.id,
            d.state,
            d.cloud_id,
            d.product,
            d.object_type,
            d.object_count,
            when(d.created_at)
        );
    }
    Ok(())
}

pub async fn show(config: &Config, id: &str, limit: i64, json: bool) -> Result<(), Error> {
    let id = parse_id(id)?;
    let pool = pool(config).await?;
    let decision = decisions::get(&pool, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no decision {id}")))?;
    let objects = decisions::objects(&pool, id, limit, None).await?;
    let audit = decisions::audit_for_decision(&pool, id).await?;
    if json {
        print_json(&serde_json::json!({
            "decision": decision, "objects": objects, "audit": audit,
        }));
        return Ok(());
    }
    print_decision(&decision);
    println!("\nOBJECTS ({} shown)", objects.len());
    for o in &objects {
        println!(
            "  {}/{}/{}  {}  blocked since {}  events {}",
            o.product,
            o.object_type,
            o.id,
            o.state,
            when(o.blocked_since),
            o.event_ids.join(", ")
        );
    }
    println!("\nAUDIT");
    if audit.is_empty() {
        println!("  no operator has acted on this decision yet");
    }
    for a in &audit {
        println!(
            "  {}  {}  {}  {:?}",
            when(a.at),
            a.actor,
            a.action,
            a.reason
        );
    }
    Ok(())
}

fn print_decision(d: &DecisionView) {
    println!("decision {}", d.id);
    println!("  state    {}", d.state);
    println!("  site     {}", d.cloud_id);
    println!(
        "  what     {} {} ({} objects)",
        d.product, d.object_type, d.object_count
    );
    println!("  review   {}", d.review);
    println!("  created  {}", when(d.created_at));
    println!("  updated  {}", when(d.updated_at));
}

/// Approve, hold or keep; the actor recorded in the audit log is `cli:<name>`.
pub async fn act(
    config: &Config,
    id: &str,
    action: &str,
    reason: &str,
    operator: &str,
    json: bool,
) -> Result<(), Error> {
    let id = parse_id(id)?;
    let action = Action::parse(action)?;
    if operator.trim().is_empty() {
        return Err(Error::invalid(
            "--operator must name who is acting (it goes into the audit log)",
        ));
    }
    let actor = format!("cli:{operator}");
    let view = decisions::act(
        &pool(config).await?,
        id,
        action,
        &actor,
        reason,
        chrono::Utc::now(),
    )
    .await?;
    if json {
        print_json(&view);
    } else {
        println!("decision {} is now {} (by {actor})", view.id, view.state);
    }
    Ok(())
}
