//! Forge Invocation Tokens: RS256 JWTs signed by Forge, naming the app and the
//! installation that invoked us.

use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{errors::ErrorKind, Algorithm, Validation};
use secrecy::SecretString;
use serde::Deserialize;

use super::jwks::JwksCache;
use crate::config::bare_app_id;
use crate::domain::{CloudId, ForgeInstallation};
use crate::Error;

const FORGE_ISSUER: &str = "forge/invocation-token";

/// When a system token carries no readable `exp`, it is kept for this long.
const SYSTEM_TOKEN_FALLBACK_TTL_SECS: i64 = 3_600;

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    aud: Audience,
    app: AppClaim,
    #[serde(default)]
    context: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppClaim {
    id: String,
    installation_id: String,
    api_base_url: Option<String>,
    installation: Option<InstallationClaim>,
}

#[derive(Deserialize)]
struct InstallationClaim {
    #[serde(default)]
    contexts: Vec<serde_json::Value>,
}

pub struct ForgeVerifier {
    jwks: JwksCache,
    app_ids: Vec<String>,
}

impl ForgeVerifier {
    pub fn new(jwks: JwksCache, app_ids: Vec<String>) -> Self {
        Self { jwks, app_ids }
    }

    /// Verifies the token and says which installation it speaks for.
    pub async fn verify(
        &self,
        token: &str,
        system_token: Option<&str>,
    ) -> Result<ForgeInstallation, Error> {
        if self.app_ids.is_empty() {
            return Err(Error::unauthorized(
                "a Forge invocation token was sent but no Forge app is configured (AARC_FORGE_APP_IDS)",
            ));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Error::unauthorized("the Forge invocation token is not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(Error::unauthorized(
                "the Forge invocation token must be signed with RS256",
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| Error::unauthorized("the Forge invocation token has no kid"))?;
        let key = self.jwks.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 60;
        validation.validate_nbf = true;
        validation.validate_aud = false; // checked below, ARIs and bare ids alike
        validation.set_issuer(&[FORGE_ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| {
                Error::unauthorized(match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        "the Forge invocation token has expired".to_string()
                    }
                    ErrorKind::ImmatureSignature => {
                        "the Forge invocation token is not valid yet (nbf)".to_string()
                    }
                    ErrorKind::InvalidSignature => {
                        "the Forge invocation token signature does not verify".to_string()
                    }
                    ErrorKind::InvalidIssuer => {
                        format!("the Forge invocation token iss must be {FORGE_ISSUER}")
                    }
                    ErrorKind::MissingRequiredClaim(c) => {
                        format!("the Forge invocation token has no {c} claim")
                    }
                    ErrorKind::Json(e) => {
                        format!("the Forge invocation token claims are malformed: {e}")
                    }
                    other => format!("the Forge invocation token is invalid: {other:?}"),
                })
            })?
            .claims;
        let audiences = match &claims.aud {
            Audience::One(a) => vec![a.clone()],
            Audience::Many(v) => v.clone(),
        };
        if !audiences
            .iter()
            .any(|a| self.app_ids.contains(&bare_app_id(a)))
        {
            return Err(Error::unauthorized(
                "the Forge invocation token aud is not a configured app id (AARC_FORGE_APP_IDS)",
            ));
        }
        let app_id = bare_app_id(&claims.app.id);
        if !self.app_ids.contains(&app_id) {
            return Err(Error::unauthorized(
                "the Forge invocation token app.id is not a configured app id (AARC_FORGE_APP_IDS)",
            ));
        }
        installation_from(claims, app_id, system_token)
    }
}

fn installation_from(
    claims: Claims,
    app_id: String,
    system_token: Option<&str>,
) -> Result<ForgeInstallation, Error> {
    let contexts = claims
        .app
        .installation
        .as_ref()
        .map(|i| i.contexts.as_slice())
        .unwrap_or_default();
    let context_cloud_id = contexts.iter().find_map(|c| {
        c.get("cloudId")
            .and_then(|v| v.as_str())
            .map(str::to_string)
    });
    let api_cloud_id = claims
        .app
        .api_base_url
        .as_deref()
        .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
        .map(str::to_string);
    let invocation_cloud_id = claims
        .context
        .as_ref()
        .and_then(|c| c.get("cloudId"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let raw_cloud_id = context_cloud_id
        .or(api_cloud_id)
        .or(invocation_cloud_id)
        .ok_or_else(|| Error::unauthorized("the Forge invocation token names no site (cloudId)"))?;
    let cloud_id = CloudId::parse(&raw_cloud_id).map_err(Error::Unauthorized)?;
    let site_url = contexts.iter().chain(claims.context.iter()).find_map(|c| {
        ["url", "siteUrl"]
            .iter()
            .find_map(|k| c.get(*k).and_then(|v| v.as_str()))
            .and_then(|u| url::Url::parse(u).ok())
    });
    if claims.app.installation_id.is_empty() {
        return Err(Error::unauthorized(
            "the Forge invocation token has an empty installationId",
        ));
    }
    Ok(ForgeInstallation {
        installation_id: claims.app.installation_id,
        app_id,
        cloud_id,
        api_base_url: claims.app.api_base_url,
        site_url,
        system_token: system_token
            .filter(|t| !t.is_empty())
            .map(|t| (SecretString::from(t.to_string()), system_token_expiry(t))),
    })
}

/// App system tokens are JWTs; their `exp` says how long one may be used.
fn system_token_expiry(token: &str) -> DateTime<Utc> {
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|c| c.get("exp").and_then(|e| e.as_i64()))
        .and_then(|exp| DateTime::from_timestamp(exp, 0))
        .unwrap_or_else(|| Utc::now() + chrono::Duration::seconds(SYSTEM_TOKEN_FALLBACK_TTL_SECS))
}
