//! Settings, read once at start from environment variables (a file named by
//! `AARC_CONFIG_FILE` may add to them; the environment wins) and validated
//! before anything runs. `VARIABLES` is the reference the README is tested
//! against, so the two cannot drift.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::domain::{HumanDuration, RetentionAction, ReviewMode};

mod variables;
pub use variables::VARIABLES;

const DEFAULT_JWKS_URL: &str = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A named credential from `name:token` lists.
#[derive(Debug, Clone)]
pub struct NamedToken {
    pub name: String,
    pub token: SecretString,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: Option<SecretString>,
    pub listen: String,
    pub service_tokens: Vec<NamedToken>,
    pub operator_tokens: Vec<NamedToken>,
    pub max_body_bytes: usize,
    pub default_action: RetentionAction,
    pub default_grace: HumanDuration,
    pub default_review: ReviewMode,
    pub app_key: Option<String>,
    pub verify: bool,
    pub reconciler: bool,
    pub reconcile_interval: HumanDuration,
    pub app_callback_url: Option<url::Url>,
    pub app_callback_secret: Option<SecretString>,
    /// Bare app ids (the ARI prefix removed).
    pub forge_app_ids: Vec<String>,
    pub forge_jwks_url: String,
    /// Shortest time between two JWKS fetches caused by unknown key ids.
    pub jwks_refetch_cooldown: Duration,
    pub log_format: LogFormat,
    pub migrate_on_start: bool,
    pub data_dir: PathBuf,
    pub db_pool_size: u32,
    pub ingest_batch_wait: Duration,
    pub ingest_batch_linger: Duration,
    pub ingest_batch_max: usize,
    pub ingest_batch_max_objects: usize,
    pub ingest_writers: usize,
    /// Threads reading and answering HTTP requests.
    pub http_workers: usize,
    /// Threads of the runtime running the group-commit writers and the
    /// background work (reconciler, status-cache reads, outbox deliveries).
    pub worker_threads: usize,
    pub status_cache_objects: usize,
}

impl Config {
    /// Reads the process environment (and `AARC_CONFIG_FILE`, if set).
    pub fn from_env() -> Result<Self, String> {
        let mut vars: HashMap<String, String> = HashMap::new();
        if let Ok(path) = std::env::var("AARC_CONFIG_FILE") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("AARC_CONFIG_FILE {path}: {e}"))?;
            vars.extend(parse_env_file(&text)?);
        }
        vars.extend(std::env::vars());
        Self::from_map(&vars)
    }

    /// Builds a configuration from explicit variables (tests use this).
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, String> {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let known = |k: &str| VARIABLES.iter().any(|(name, ..)| *name == k);
        if let Some(unknown) = vars
            .keys()
            .filter(|k| k.starts_with("AARC_") && !known(k))
            .min()
        {
            return Err(format!(
                "{unknown} is not a setting aarc knows (see the README)"
            ));
        }
        let duration = |k: &str, default: &str| {
            HumanDuration::parse(get(k).unwrap_or(default)).map_err(|e| format!("{k}: {e}"))
        };
        let db_pool_size: u32 = match get("AARC_DB_POOL_SIZE") {
            None => 16,
            Some(v) => v
                .parse()
                .ok()
                // At least one connection for the group-commit writers and
                // one for everything else.
                .filter(|n| (2..=1000).contains(n))
                .ok_or_else(|| format!("AARC_DB_POOL_SIZE: {v:?} is not 2 to 1000"))?,
        };
        Ok(Self {
            database_url: get("DATABASE_URL").map(|s| SecretString::from(s.to_string())),
            listen: get("AARC_LISTEN").unwrap_or("127.0.0.1:8080").to_string(),
            service_tokens: parse_tokens("AARC_SERVICE_TOKENS", get("AARC_SERVICE_TOKENS"))?,
            operator_tokens: parse_tokens("AARC_OPERATOR_TOKENS", get("AARC_OPERATOR_TOKENS"))?,
            max_body_bytes: match get("AARC_MAX_BODY_BYTES") {
                None => 1024 * 1024,
                Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("AARC_MAX_BODY_BYTES: {v:?} is not a positive byte count")
                })?,
            },
            default_action: RetentionAction::parse(get("AARC_DEFAULT_ACTION").unwrap_or("hide"))
                .map_err(|e| format!("AARC_DEFAULT_ACTION: {e}"))?,
            default_grace: duration("AARC_DEFAULT_GRACE", "30d")?,
            default_review: ReviewMode::parse(get("AARC_DEFAULT_REVIEW").unwrap_or("required"))
                .map_err(|e| format!("AARC_DEFAULT_REVIEW: {e}"))?,
            app_key: get("AARC_APP_KEY").map(str::to_string),
            verify: on_off("AARC_VERIFY", get("AARC_VERIFY"), true)?,
            reconciler: on_off("AARC_RECONCILER", get("AARC_RECONCILER"), true)?,
            reconcile_interval: duration("AARC_RECONCILE_INTERVAL", "1m")?,
            app_callback_url: get("AARC_APP_CALLBACK_URL")
                .map(|v| url::Url::parse(v).map_err(|e| format!("AARC_APP_CALLBACK_URL: {e}")))
                .transpose()?,
            app_callback_secret: get("AARC_APP_CALLBACK_SECRET")
                .map(|v| {
                    if v.starts_with("whsec_") {
                        Ok(SecretString::from(v.to_string()))
                    } else {
                        Err("AARC_APP_CALLBACK_SECRET must have the form whsec_<base64>"
                            .to_string())
                    }
                })
                .transpose()?,
            forge_app_ids: get("AARC_FORGE_APP_IDS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(bare_app_id)
                        .collect()
                })
                .unwrap_or_default(),
            forge_jwks_url: get("AARC_FORGE_JWKS_URL")
                .unwrap_or(DEFAULT_JWKS_URL)
                .to_string(),
            jwks_refetch_cooldown: Duration::from_secs(10),
            log_format: match get("AARC_LOG_FORMAT").unwrap_or("pretty") {
                "json" => LogFormat::Json,
                "pretty" => LogFormat::Pretty,
                other => return Err(format!("AARC_LOG_FORMAT: {other:?} is not json or pretty")),
            },
            migrate_on_start: on_off("AARC_MIGRATE", get("AARC_MIGRATE"), true)?,
            data_dir: PathBuf::from(get("AARC_DATA_DIR").unwrap_or(".aarc")),
            db_pool_size,
            ingest_batch_wait: milliseconds(
                "AARC_INGEST_BATCH_WAIT_MS",
                get("AARC_INGEST_BATCH_WAIT_MS"),
                1.0,
            )?,
            ingest_batch_linger: milliseconds(
                "AARC_INGEST_BATCH_LINGER_MS",
                get("AARC_INGEST_BATCH_LINGER_MS"),
                0.0,
            )?,
            ingest_batch_max: bounded(
                "AARC_INGEST_BATCH_MAX",
                get("AARC_INGEST_BATCH_MAX"),
                32,
                1..=100_000,
            )? as usize,
            ingest_batch_max_objects: bounded(
                "AARC_INGEST_BATCH_MAX_OBJECTS",
                get("AARC_INGEST_BATCH_MAX_OBJECTS"),
                2_000,
                1..=10_000_000,
            )? as usize,
            ingest_writers: match get("AARC_INGEST_WRITERS") {
                None => None,
                Some(v) => {
                    let writers = bounded("AARC_INGEST_WRITERS", Some(v), 0, 1..=64)?;
                    if writers >= u64::from(db_pool_size) {
                        return Err(format!(
                            "AARC_INGEST_WRITERS: {writers} leaves no connection of the \
                             {db_pool_size} in AARC_DB_POOL_SIZE for other requests"
                        ));
                    }
                    Some(writers as usize)
                }
            }
            // While one writer commits, the others gather: a few are enough,
            // and each holds a connection while it writes.
            .unwrap_or((db_pool_size as usize / 4).clamp(1, 4)),
            // Half the cores by default: the other half runs the writers
            // and, often, PostgreSQL itself. (On two cores, one HTTP thread
            // took 1.10x the events per second of two, ingest benchmark.)
            http_workers: bounded(
                "AARC_HTTP_WORKERS",
                get("AARC_HTTP_WORKERS"),
                (std::thread::available_parallelism().map_or(1, |n| n.get()) as u64 / 2)
                    .clamp(1, 256),
                1..=256,
            )? as usize,
            // One: the writers take turns (one group is written at a time)
            // and the background work mostly waits on PostgreSQL, so a
            // second thread only woke and was woken across threads — in the
            // ingest benchmark two threads cost aarc 4-8 µs more per event
            // and did 0.94x the events per second of one.
            worker_threads: bounded(
                "AARC_WORKER_THREADS",
                get("AARC_WORKER_THREADS"),
                1,
                1..=256,
            )? as usize,
            status_cache_objects: bounded(
                "AARC_STATUS_CACHE_OBJECTS",
                get("AARC_STATUS_CACHE_OBJECTS"),
                2_000_000,
                0..=1_000_000_000,
            )? as usize,
        })
    }
}

/// A whole number within `range`, or `default` when unset.
fn bounded(
    name: &str,
    value: Option<&str>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, String> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                format!(
                    "{name}: {v:?} is not a whole number from {} to {}",
                    range.start(),
                    range.end()
                )
            }),
    }
}

/// A time in milliseconds, fractions allowed ("0.5"), from 0 to 100; `default` when unset.
fn milliseconds(name: &str, value: Option<&str>, default: f64) -> Result<Duration, String> {
    let ms = match value {
        None => default,
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|ms| (0.0..=100.0).contains(ms))
            .ok_or_else(|| {
                format!("{name}: {v:?} is not a number of milliseconds from 0 to 100")
            })?,
    };
    // Whole microseconds; tokio's timer then rounds a deadline up to its
    // next millisecond tick, so a fraction waits up to that tick.
    Ok(Duration::from_micros((ms * 1000.0).round() as u64))
}

/// `ari:cloud:ecosystem::app/<id>` and `<id>` name the same app.
pub fn bare_app_id(raw: &str) -> String {
    raw.trim()
        .strip_prefix("ari:cloud:ecosystem::app/")
        .unwrap_or(raw.trim())
        .to_string()
}

fn on_off(name: &str, value: Option<&str>, default: bool) -> Result<bool, String> {
    match value.map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "on" || v == "true" || v == "1" => Ok(true),
        Some(v) if v == "off" || v == "false" || v == "0" => Ok(false),
        Some(v) => Err(format!("{name}: {v:?} is not on or off")),
    }
}

fn parse_tokens(name: &str, value: Option<&str>) -> Result<Vec<NamedToken>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| match pair.split_once(':') {
            Some((n, t)) if !n.trim().is_empty() && !t.trim().is_empty() => Ok(NamedToken {
                name: n.trim().to_string(),
                token: SecretString::from(t.trim().to_string()),
            }),
            // The value itself is a secret: never echo it in the error.
            _ => Err(format!("{name}: every entry must be name:token")),
        })
        .collect()
}

fn parse_env_file(text: &str) -> Result<HashMap<String, String>, String> {
    let mut vars = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("AARC_CONFIG_FILE line {}: expected KEY=VALUE", n + 1))?;
        let v = v.trim().trim_matches('"');
        vars.insert(k.trim().to_string(), v.to_string());
    }
    Ok(vars)
}

#[cfg(test)]
mod tests;
