//! Who sent a webhook: a Forge installation (Forge Invocation Token) or a
//! Connect tenant (Connect JWT), chosen by the `Authorization` header.

pub mod connect;
pub mod connect_tenants;
pub mod forge;
pub mod jwks;
pub mod qsh;

use sqlx::PgPool;

use crate::domain::{ForgeInstallation, Tenant};
use crate::Error;

/// The parts of an HTTP request that authentication looks at.
pub struct RequestAuth<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw (still percent-encoded) query string.
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    pub system_token: Option<&'a str>,
}

pub enum Authenticated {
    Connect(Tenant),
    Forge(ForgeInstallation),
}

fn query_jwt(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "jwt").then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// What authenticates webhook senders: Forge's keys and the Connect tenants.
pub struct Verifier {
    pub forge: forge::ForgeVerifier,
    pub connect: connect_tenants::ConnectTenants,
}

pub async fn authenticate(
    pool: &PgPool,
    verifier: &Verifier,
    req: &RequestAuth<'_>,
) -> Result<Authenticated, Error> {
    let header = req.authorization.map(str::trim);
    if let Some(h) = header {
        let (scheme, token) = h.split_once(' ').unwrap_or((h, ""));
        let token = token.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return verifier
                .forge
                .verify(token, req.system_token)
                .await
                .map(Authenticated::Forge);
        }
        if scheme.eq_ignore_ascii_case("jwt") {
            return verifier
                .connect
                .verified(pool, token, req)
                .await
                .map(Authenticated::Connect);
        }
        return Err(Error::unauthorized(
            "the Authorization header must be \"Bearer <Forge invocation token>\" or \"JWT <Connect token>\"",
        ));
    }
    match query_jwt(req.query) {
        Some(token) => verifier
            .connect
            .verified(pool, &token, req)
            .await
            .map(Authenticated::Connect),
        None => Err(Error::unauthorized(
            "no credentials: send a Forge invocation token or a Connect JWT",
        )),
    }
}
