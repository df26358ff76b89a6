//! Atlassian Connect webhook JWTs: HS256 with the tenant's shared secret, `iss`
//! the tenant's clientKey, `qsh` bound to this very request.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::Algorithm;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::qsh;
use crate::Error;

/// The qsh value Connect uses for tokens that are not bound to a request;
/// a webhook must never accept one.
const CONTEXT_QSH: &str = "context-qsh";

/// How far past `exp` a token is still accepted: clocks differ.
const LEEWAY_SECS: f64 = 60.0;

/// The claims a webhook's token is checked by; any others are skipped.
#[derive(Deserialize)]
struct Claims {
    iss: Option<Value>,
    exp: Option<Value>,
    qsh: Option<Value>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// A Connect JWT split and its payload read, before any check. The issuer
/// is needed to find the secret that checks the signature, and the claims
/// are checked after it: both come from one reading of the payload. (With
/// a general JWT library the payload was decoded twice per request and the
/// validation rules built anew each time: a ninth of aarc's CPU per
/// webhook in a profile of the ingest benchmark.)
pub struct ConnectToken<'t> {
    header: &'t str,
    /// `header.payload`, the bytes the signature is over.
    signed: &'t str,
    signature: &'t str,
    claims: Claims,
}

impl<'t> ConnectToken<'t> {
    /// Splits `token` and reads its payload; checks nothing.
    pub fn read(token: &'t str) -> Result<Self, Error> {
        let mut parts = token.splitn(4, '.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::unauthorized(
                "the Connect JWT is not three dot-separated parts",
            ));
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| Error::unauthorized("the Connect JWT payload is not base64url"))?;
        let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| {
            Error::unauthorized("the Connect JWT payload is not a JSON object of claims")
        })?;
        Ok(ConnectToken {
            header,
            signed: &token[..header.len() + 1 + payload.len()],
            signature,
            claims,
        })
    }

    /// The `iss` claim, unverified: whose secret checks this token.
    pub fn issuer(&self) -> Result<&str, Error> {
        match &self.claims.iss {
            Some(Value::String(iss)) if !iss.is_empty() => Ok(iss),
            _ => Err(Error::unauthorized("the Connect JWT has no iss claim")),
        }
    }

    /// Checks the algorithm, the signature against `secret`, expiry (60 s
    /// leeway) and the binding to this request (`qsh`), in that order.
    pub fn verify(
        &self,
        secret: &SecretString,
        method: &str,
        path: &str,
        query: &str,
    ) -> Result<(), Error> {
        self.check_signature(secret)?;
        self.issuer()?;
        match self.claims.exp.as_ref().and_then(Value::as_f64) {
            None => return Err(Error::unauthorized("the Connect JWT has no exp claim")),
            Some(exp) if exp + LEEWAY_SECS < chrono::Utc::now().timestamp() as f64 => {
                return Err(Error::unauthorized("the Connect JWT has expired"))
            }
            Some(_) => {}
        }
        match &self.claims.qsh {
            None => Err(Error::unauthorized("the Connect JWT has no qsh claim")),
            Some(Value::String(claimed)) if claimed == CONTEXT_QSH => Err(Error::unauthorized(
                "a context-qsh token is not bound to this request and is refused for webhooks",
            )),
            Some(Value::String(claimed))
                if claimed.eq_ignore_ascii_case(&qsh::qsh(method, path, query)) =>
            {
                Ok(())
            }
            Some(_) => Err(Error::unauthorized(format!(
                "the Connect JWT qsh does not match the request (expected the hash of {:?})",
                qsh::canonical_request(method, path, query)
            ))),
        }
    }

    fn check_signature(&self, secret: &SecretString) -> Result<(), Error> {
        let header: Header = URL_SAFE_NO_PAD
            .decode(self.header.trim_end_matches('='))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| {
                Error::unauthorized("the Connect JWT header is not base64url JSON naming its alg")
            })?;
        if header.alg != "HS256" {
            return Err(Error::unauthorized(
                "the Connect JWT must be signed with HS256",
            ));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(self.signature)
            .map_err(|_| Error::unauthorized("the Connect JWT signature is not base64url"))?;
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .map_err(|_| Error::Internal("an HMAC key of any length is accepted".into()))?;
        mac.update(self.signed.as_bytes());
        // In constant time: how much of a guess matched must not show.
        mac.verify_slice(&signature).map_err(|_| {
            Error::unauthorized(
                "the Connect JWT signature does not match the tenant's shared secret",
            )
        })
    }
}

/// Reads `iss` without checking the signature, to find whose secret checks it.
pub fn unverified_issuer(token: &str) -> Result<String, Error> {
    Ok(ConnectToken::read(token)?.issuer()?.to_string())
}

/// Checks signature, expiry (60 s leeway) and the request binding.
pub fn verify(
    token: &str,
    secret: &SecretString,
    method: &str,
    path: &str,
    query: &str,
) -> Result<(), Error> {
    ConnectToken::read(token)?.verify(secret, method, path, query)
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

    /// A token with these header and claims, signed with `secret()`.
    fn token_with(header: &jsonwebtoken::Header, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret().expose_secret().as_bytes()),
        )
        .unwrap()
    }

    fn refusal(token: &str) -> String {
        match verify(token, &secret(), "POST", "/webhooks/atlassian", "") {
            Err(Error::Unauthorized(detail)) => detail,
            other => panic!("not refused with 401: {other:?}"),
        }
    }

    fn claims(exp_from_now: i64) -> serde_json::Value {
        serde_json::json!({
            "iss": "tenant-1",
            "exp": chrono::Utc::now().timestamp() + exp_from_now,
            "qsh": qsh::qsh("POST", "/webhooks/atlassian", ""),
        })
    }

    #[test]
    fn expiry_has_sixty_seconds_of_leeway_and_is_required() {
        let hs256 = jsonwebtoken::Header::new(Algorithm::HS256);
        verify(
            &token_with(&hs256, claims(-50)),
            &secret(),
            "POST",
            "/webhooks/atlassian",
            "",
        )
        .unwrap();
        assert!(refusal(&token_with(&hs256, claims(-70))).contains("expired"));
        let mut no_exp = claims(0);
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(refusal(&token_with(&hs256, no_exp)).contains("no exp claim"));
        let mut text_exp = claims(0);
        text_exp["exp"] = serde_json::json!("tomorrow");
        assert!(refusal(&token_with(&hs256, text_exp)).contains("no exp claim"));
    }

    #[test]
    fn only_hs256_with_the_shared_secret_is_accepted() {
        let hs512 = jsonwebtoken::Header::new(Algorithm::HS512);
        assert!(refusal(&token_with(&hs512, claims(60))).contains("HS256"));
        // alg "none" with no signature, and with the HS256 signature kept.
        let good = token_with(&jsonwebtoken::Header::new(Algorithm::HS256), claims(60));
        let (_, rest) = good.split_once('.').unwrap();
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let payload = rest.split('.').next().unwrap();
        assert!(refusal(&format!("{none}.{payload}.")).contains("HS256"));
        assert!(refusal(&format!("{none}.{rest}")).contains("HS256"));
        // The payload changed after signing.
        let mut other = claims(60);
        other["iss"] = serde_json::json!("tenant-2");
        let forged_payload = URL_SAFE_NO_PAD.encode(other.to_string());
        let (header, _) = good.split_once('.').unwrap();
        let signature = good.rsplit('.').next().unwrap();
        let forged = format!("{header}.{forged_payload}.{signature}");
        assert_eq!(unverified_issuer(&forged).unwrap(), "tenant-2");
        assert!(refusal(&forged).contains("signature does not match"));
        // A fourth part, or padding on the signature.
        assert!(refusal(&format!("{good}.x")).contains("three"));
        assert!(refusal(&format!("{good}=")).contains("signature"));
    }
}
