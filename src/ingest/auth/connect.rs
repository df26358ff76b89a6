//! Atlassian Connect webhook JWTs: HS256 with the tenant's shared secret, `iss`
//! the tenant's clientKey, `qsh` bound to this very request.

use base64::Engine;
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::qsh;
use crate::Error;

/// The qsh value Connect uses for tokens that are not bound to a request;
/// a webhook must never accept one.
const CONTEXT_QSH: &str = "context-qsh";

#[derive(Deserialize)]
struct Claims {
    qsh: Option<String>,
}

/// Reads `iss` without checking the signature, to find whose secret checks it.
pub fn unverified_issuer(token: &str) -> Result<String, Error> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| Error::unauthorized("the Connect JWT is not three dot-separated parts"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| Error::unauthorized("the Connect JWT payload is not base64url"))?;
    // Only `iss` is read; the other claims are skipped, not built.
    #[derive(Deserialize)]
    struct Issuer {
        iss: Option<serde_json::Value>,
    }
    let claims: Issuer = serde_json::from_slice(&bytes)
        .map_err(|_| Error::unauthorized("the Connect JWT payload is not a JSON object"))?;
    match claims.iss {
        Some(serde_json::Value::String(iss)) if !iss.is_empty() => Ok(iss),
        _ => Err(Error::unauthorized("the Connect JWT has no iss claim")),
    }
}

/// Checks signature, expiry (60 s leeway) and the request binding.
pub fn verify(
    token: &str,
    secret: &SecretString,
    method: &str,
    path: &str,
    query: &str,
) -> Result<(), Error> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 60;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss"]);
    let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
        Error::unauthorized(match e.kind() {
            ErrorKind::ExpiredSignature => "the Connect JWT has expired".to_string(),
            ErrorKind::InvalidSignature => {
                "the Connect JWT signature does not match the tenant's shared secret".to_string()
            }
            ErrorKind::InvalidAlgorithm => "the Connect JWT must be signed with HS256".to_string(),
            ErrorKind::MissingRequiredClaim(c) => format!("the Connect JWT has no {c} claim"),
            other => format!("the Connect JWT is invalid: {other:?}"),
        })
    })?;
    match data.claims.qsh.as_deref() {
        None => Err(Error::unauthorized("the Connect JWT has no qsh claim")),
        Some(CONTEXT_QSH) => Err(Error::unauthorized(
            "a context-qsh token is not bound to this request and is refused for webhooks",
        )),
        Some(claimed) if claimed.eq_ignore_ascii_case(&qsh::qsh(method, path, query)) => Ok(()),
        Some(_) => Err(Error::unauthorized(format!(
            "the Connect JWT qsh does not match the request (expected the hash of {:?})",
            qsh::canonical_request(method, path, query)
        ))),
    }
}

/// Signs a Connect JWT for an outbound request (verification calls, tests,
/// `aarc send`): HS256, `iat`, `exp` three minutes ahead, `qsh` of the request.
pub fn sign(
    issuer: &str,
    secret: &SecretString,
    method: &str,
    path: &str,
    query: &str,
) -> Result<String, Error> {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": issuer,
        "iat": now,
        "exp": now + 180,
        "qsh": qsh::qsh(method, path, query),
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .map_err(|e| Error::Internal(format!("cannot sign a Connect JWT: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("a-shared-secret-of-some-length".to_string())
    }

    #[test]
    fn a_signed_token_verifies_for_its_own_request_only() {
        let token = sign("tenant-1", &secret(), "POST", "/webhooks/atlassian", "").unwrap();
        assert_eq!(unverified_issuer(&token).unwrap(), "tenant-1");
        verify(&token, &secret(), "POST", "/webhooks/atlassian", "").unwrap();
        let wrong = verify(&token, &secret(), "POST", "/webhooks/atlassian", "x=1");
        assert!(matches!(wrong, Err(Error::Unauthorized(d)) if d.contains("qsh")));
        let other = SecretString::from("another-secret".to_string());
        assert!(verify(&token, &other, "POST", "/webhooks/atlassian", "").is_err());
    }

    #[test]
    fn garbage_tokens_are_refused_not_panicked_on() {
        for t in ["", "a", "a.b", "a.b.c", "...", "x.eyJpc3MiOjF9.y"] {
            assert!(
                unverified_issuer(t).is_err() || verify(t, &secret(), "POST", "/", "").is_err()
            );
        }
    }
}
