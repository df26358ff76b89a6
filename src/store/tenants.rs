//! The `tenants` table: Connect tenants registered by operators, Forge
//! installations registered by their first verified invocation token.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{PgConnection, PgPool, Row};

use crate::domain::{ClientKey, CloudId, ForgeInstallation, Tenant, TenantKind};
use crate::Error;

const TENANT_COLUMNS: &str = "id, kind, tenant_key, cloud_id, base_url, shared_secret, installed";

fn tenant_from_row(row: &sqlx::postgres::PgRow) -> Result<Tenant, Error> {
    let kind = match row.try_get::<&str, _>("kind")? {
        "forge" => TenantKind::Forge,
        _ => TenantKind::Connect,
    };
    let cloud_id: String = row.try_get("cloud_id")?;
    Ok(Tenant {
        id: row.try_get("id")?,
        kind,
        key: row.try_get("tenant_key")?,
        cloud_id: CloudId::parse(&cloud_id).map_err(Error::Internal)?,
        base_url: row.try_get("base_url")?,
        shared_secret: row
            .try_get::<Option<String>, _>("shared_secret")?
            .map(SecretString::from),
        installed: row.try_get("installed")?,
    })
}

/// What an operator supplies for a Connect tenant.
pub struct ConnectRegistration {
    pub client_key: ClientKey,
    pub shared_secret: SecretString,
    pub base_url: url::Url,
    pub cloud_id: CloudId,
}

/// Inserts or replaces a Connect tenant; returns it and whether it is new.
/// Re-adding a removed tenant installs it again.
pub async fn upsert_connect(
    pool: &PgPool,
    reg: &ConnectRegistration,
) -> Result<(Tenant, bool), Error> {
    let row = sqlx::query(&format!(
        "INSERT INTO tenants (id, kind, tenant_key, cloud_id, base_url, site_url, shared_secret)
         VALUES ($1, 'connect', $2, $3, $4, $5, $6)
         ON CONFLICT ON CONSTRAINT tenants_kind_key DO UPDATE SET
            cloud_id = EXCLUDED.cloud_id, base_url = EXCLUDED.base_url,
            site_url = EXCLUDED.site_url, shared_secret = EXCLUDED.shared_secret,
            installed = true, updated_at = now()
         RETURNING {TENANT_COLUMNS}, (xmax = 0) AS inserted"
    ))
    .bind(uuid::Uuid::new_v4())
    .bind(reg.client_key.as_str())
    .bind(reg.cloud_id.as_str())
    .bind(reg.base_url.as_str().trim_end_matches('/'))
    .bind(reg.base_url.origin().ascii_serialization())
    .bind(reg.shared_secret.expose_secret())
    .fetch_one(pool)
    .await?;
    Ok((tenant_from_row(&row)?, row.try_get("inserted")?))
}

/// The tenant that speaks for a site: an installed one first, Forge before
/// Connect, the most recently updated.
pub async fn find_by_site(
    conn: &mut PgConnection,
    cloud_id: &str,
) -> Result<Option<Tenant>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE cloud_id = $1
         ORDER BY installed DESC, (kind = 'forge') DESC, updated_at DESC LIMIT 1"
    ))
    .bind(cloud_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(tenant_from_row).transpose()
}

pub async fn find_connect(pool: &PgPool, client_key: &str) -> Result<Option<Tenant>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE kind = 'connect' AND tenant_key = $1"
    ))
    .bind(client_key)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(tenant_from_row).transpose()
}

/// What the receiver checks of a tenant when it stores its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallState {
    pub installed: bool,
    pub site_url: Option<String>,
    /// Connect only: the shared secret now on record.
    pub shared_secret: Option<String>,
}

/// The install state of each tenant named by (kind, key), in one query;
/// tenants not recorded are missing from the map.
pub async fn install_states(
    conn: &mut PgConnection,
    keys: &[(&str, &str)],
) -> Result<std::collections::HashMap<(String, String), InstallState>, Error> {
    let kinds: Vec<&str> = keys.iter().map(|(kind, _)| *kind).collect();
    let names: Vec<&str> = keys.iter().map(|(_, key)| *key).collect();
    let rows = sqlx::query(
        "SELECT kind, tenant_key, installed, site_url, shared_secret FROM tenants
         WHERE (kind, tenant_key) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))",
    )
    .bind(&kinds)
    .bind(&names)
    .fetch_all(conn)
    .await?;
    let mut states = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        states.insert(
            (row.try_get("kind")?, row.try_get("tenant_key")?),
            InstallState {
                installed: row.try_get("installed")?,
                site_url: row.try_get("site_url")?,
                shared_secret: row.try_get("shared_secret")?,
            },
        );
    }
    Ok(states)
}

/// Tenants as the caller last read them, for a statement that writes only
/// if every one of them is still so (`inbox_at_once::write`): the check
/// rides in the statement that stores the events instead of a read before it.
#[derive(Debug, Default)]
pub struct Unchanged<'a> {
    pub(crate) kinds: Vec<&'a str>,
    pub(crate) keys: Vec<&'a str>,
    pub(crate) installed: Vec<bool>,
    pub(crate) site_urls: Vec<Option<&'a str>>,
    pub(crate) shared_secrets: Vec<Option<&'a str>>,
}

impl<'a> Unchanged<'a> {
    /// Expects the tenant (kind, key) to be recorded, and recorded as `state`.
    /// A tenant expected twice is checked once.
    pub fn expect(&mut self, kind: &'a str, key: &'a str, state: &'a InstallState) {
        if self
            .kinds
            .iter()
            .zip(&self.keys)
            .any(|(k, n)| *k == kind && *n == key)
        {
            return;
        }
        self.kinds.push(kind);
        self.keys.push(key);
        self.installed.push(state.installed);
        self.site_urls.push(state.site_url.as_deref());
        self.shared_secrets.push(state.shared_secret.as_deref());
    }

    /// How many tenants must be found unchanged.
    pub(crate) fn count(&self) -> i64 {
        self.kinds.len() as i64
    }
}

/// The CTE `still_current`, one row with `ok`: every tenant of an `Unchanged` bound
/// at `$first`.. is recorded as expected (true when none is expected).
pub(crate) fn unchanged_sql(first: usize) -> String {
    let p = |i: usize| format!("${}", first + i);
    format!(
        "still_current AS (
            SELECT count(*) = {count}::bigint AS ok
            FROM UNNEST({kinds}::text[], {keys}::text[], {installed}::bool[], {urls}::text[],
                        {secrets}::text[]) AS e(kind, tenant_key, installed, site_url, shared_secret)
            JOIN tenants t ON t.kind = e.kind AND t.tenant_key = e.tenant_key
                 AND t.installed = e.installed
                 AND t.site_url IS NOT DISTINCT FROM e.site_url
                 AND t.shared_secret IS NOT DISTINCT FROM e.shared_secret
         )",
        count = p(0),
        kinds = p(1),
        keys = p(2),
        installed = p(3),
        urls = p(4),
        secrets = p(5),
    )
}

/// Registers or refreshes a Forge tenant; returns it and whether it is new.
/// The app system token is replaced only by one that expires later.
pub async fn upsert_forge(
    conn: &mut PgConnection,
    inst: &ForgeInstallation,
) -> Result<(Tenant, bool), Error> {
    let (token, expires) = match &inst.system_token {
        Some((t, e)) => (Some(t.expose_secret().to_string()), Some(*e)),
        None => (None, None),
    };
    let row = sqlx::query(&format!(
        "INSERT INTO tenants (id, kind, tenant_key, cloud_id, base_url, site_url, app_id,
                              system_token, system_token_expires_at)
         VALUES ($1, 'forge', $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT ON CONSTRAINT tenants_kind_key DO UPDATE SET
            cloud_id = EXCLUDED.cloud_id,
            base_url = COALESCE(EXCLUDED.base_url, tenants.base_url),
            site_url = COALESCE(EXCLUDED.site_url, tenants.site_url),
            app_id = EXCLUDED.app_id,
            system_token = CASE WHEN EXCLUDED.system_token_expires_at >=
                    COALESCE(tenants.system_token_expires_at, '-infinity')
                THEN EXCLUDED.system_token ELSE tenants.system_token END,
            system_token_expires_at = GREATEST(EXCLUDED.system_token_expires_at,
                                               tenants.system_token_expires_at),
            updated_at = now()
         RETURNING {TENANT_COLUMNS}, (xmax = 0) AS inserted"
    ))
    .bind(uuid::Uuid::new_v4())
    .bind(&inst.installation_id)
    .bind(inst.cloud_id.as_str())
    .bind(inst.api_base_url.as_deref())
    .bind(
        inst.site_url
            .as_ref()
            .map(|u| u.origin().ascii_serialization()),
    )
    .bind(&inst.app_id)
    .bind(token)
    .bind(expires)
    .fetch_one(conn)
    .await?;
    Ok((tenant_from_row(&row)?, row.try_get("inserted")?))
}

pub async fn set_installed(
    conn: &mut PgConnection,
    tenant_id: uuid::Uuid,
    installed: bool,
) -> Result<(), Error> {
    sqlx::query("UPDATE tenants SET installed = $2, updated_at = now() WHERE id = $1")
        .bind(tenant_id)
        .bind(installed)
        .execute(conn)
        .await?;
    Ok(())
}

/// Retires a Connect tenant: its records stay, its events are refused.
pub async fn remove_connect(pool: &PgPool, client_key: &str) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE tenants SET installed = false, updated_at = now()
         WHERE kind = 'connect' AND tenant_key = $1",
    )
    .bind(client_key)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A tenant as listings show it: never its secrets.
#[derive(Debug, serde::Serialize)]
pub struct TenantListing {
    pub kind: String,
    pub key: String,
    #[serde(rename = "cloudId")]
    pub cloud_id: String,
    #[serde(rename = "baseUrl")]
    pub base_url: Option<String>,
    pub installed: bool,
    #[serde(rename = "systemTokenExpiresAt")]
    pub system_token_expires_at: Option<DateTime<Utc>>,
    #[serde(rename = "updatedAt")]
    pub updated_at: DateTime<Utc>,
}

pub async fn list(pool: &PgPool) -> Result<Vec<TenantListing>, Error> {
    let rows = sqlx::query(
        "SELECT kind, tenant_key, cloud_id, base_url, installed, system_token_expires_at, updated_at
         FROM tenants ORDER BY kind, tenant_key",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TenantListing {
                kind: r.try_get("kind")?,
                key: r.try_get("tenant_key")?,
                cloud_id: r.try_get("cloud_id")?,
                base_url: r.try_get("base_url")?,
                installed: r.try_get("installed")?,
                system_token_expires_at: r.try_get("system_token_expires_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .collect()
}

/// How aarc can ask Atlassian about a site.
#[derive(Debug, Clone)]
pub enum VerificationTarget {
    Connect {
        base_url: String,
        shared_secret: SecretString,
    },
    Forge {
        api_base_url: String,
        system_token: SecretString,
    },
}

/// The best way to reach a site now: a Forge installation with an unexpired
/// system token, else an installed Connect tenant. None: verification is
/// unavailable for the site (nothing is restored or purged on its account).
pub async fn verification_target(
    conn: &mut PgConnection,
    cloud_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<VerificationTarget>, Error> {
    let rows = sqlx::query(
        "SELECT kind, base_url, shared_secret, system_token, system_token_expires_at
         FROM tenants WHERE cloud_id = $1 AND installed
         ORDER BY (kind = 'forge') DESC, updated_at DESC",
    )
    .bind(cloud_id)
    .fetch_all(conn)
    .await?;
    for r in rows {
        let kind: String = r.try_get("kind")?;
        let base_url: Option<String> = r.try_get("base_url")?;
        match (kind.as_str(), base_url) {
            ("forge", Some(api_base_url)) => {
                let token: Option<String> = r.try_get("system_token")?;
                let expires: Option<DateTime<Utc>> = r.try_get("system_token_expires_at")?;
                if let (Some(token), Some(expires)) = (token, expires) {
                    if expires > now {
                        return Ok(Some(VerificationTarget::Forge {
                            api_base_url,
                            system_token: SecretString::from(token),
                        }));
                    }
                }
            }
            ("connect", Some(base_url)) => {
                if let Some(secret) = r.try_get::<Option<String>, _>("shared_secret")? {
                    return Ok(Some(VerificationTarget::Connect {
                        base_url,
                        shared_secret: SecretString::from(secret),
                    }));
                }
            }
            _ => {}
        }
    }
    Ok(None)
}
