//! Connect tenants by clientKey, kept in memory for a short while so that a
//! busy receiver does not read the tenants table once per request.
//!
//! Staleness is harmless: a token that fails against a remembered secret is
//! checked again against the database (a re-installation rotates the
//! secret), and the transaction that stores the events re-reads the tenant
//! and refuses them if it is no longer installed or its secret has changed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::connect::ConnectToken;
use super::RequestAuth;
use crate::domain::Tenant;
use crate::store;
use crate::Error;

/// How long a tenant read from the database is trusted for authentication.
const REMEMBER_FOR: Duration = Duration::from_secs(30);
/// Beyond this many tenants the memory is emptied and refilled on demand.
const MAX_REMEMBERED: usize = 10_000;

#[derive(Default)]
pub struct ConnectTenants {
    remembered: Mutex<HashMap<String, (Tenant, Instant)>>,
}

impl ConnectTenants {
    /// The installed tenant that signed `token` for this request.
    pub async fn verified(
        &self,
        pool: &PgPool,
        token: &str,
        req: &RequestAuth<'_>,
    ) -> Result<Tenant, Error> {
        let token = ConnectToken::read(token)?;
        let issuer = token.issuer()?;
        if let Some(tenant) = self.remembered(issuer) {
            if check(&tenant, &token, req).is_ok() {
                return Ok(tenant);
            }
        }
        let tenant = store::tenants::find_connect(pool, issuer)
            .await?
            .ok_or_else(|| {
                Error::unauthorized(format!(
                    "the Connect JWT iss {issuer:?} is not a known tenant"
                ))
            })?;
        self.remember(issuer, &tenant);
        check(&tenant, &token, req)?;
        Ok(tenant)
    }

    fn remembered(&self, issuer: &str) -> Option<Tenant> {
        let remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        remembered
            .get(issuer)
            .filter(|(_, at)| at.elapsed() < REMEMBER_FOR)
            .map(|(tenant, _)| tenant.clone())
    }

    fn remember(&self, issuer: &str, tenant: &Tenant) {
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        if remembered.len() >= MAX_REMEMBERED {
            remembered.clear();
        }
        remembered.insert(issuer.to_string(), (tenant.clone(), Instant::now()));
    }
}

fn check(tenant: &Tenant, token: &ConnectToken<'_>, req: &RequestAuth<'_>) -> Result<(), Error> {
    let secret = tenant
        .shared_secret
        .as_ref()
        .ok_or_else(|| Error::Internal("a Connect tenant has no shared secret".into()))?;
    token.verify(secret, req.method, req.path, req.query)?;
    if !tenant.installed {
        return Err(Error::unauthorized(format!(
            "tenant {:?} is uninstalled or removed; its events are no longer accepted",
            tenant.key
        )));
    }
    Ok(())
}
