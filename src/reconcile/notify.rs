//! Telling the app: POSTs outbox messages to `AARC_APP_CALLBACK_URL`, signed
//! per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).

use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::Error;

/// The signature header value for one delivery.
pub fn sign(secret: &SecretString, id: &str, timestamp: i64, body: &[u8]) -> Result<String, Error> {
    let encoded = secret
        .expose_secret()
        .strip_prefix("whsec_")
        .ok_or_else(|| Error::Internal("the callback secret must start with whsec_".into()))?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| Error::Internal("the callback secret is not whsec_<base64>".into()))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key).map_err(|e| Error::Internal(e.to_string()))?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The result of one delivery attempt.
pub enum Delivery {
    Acknowledged,
    Failed {
        error: String,
        retry_after: Option<std::time::Duration>,
    },
}

pub async fn deliver(
    client: &reqwest::Client,
    url: &url::Url,
    secret: Option<&SecretString>,
    id: &str,
    body: &[u8],
) -> Delivery {
    // The timestamp is the real time of sending, whatever clock the pass
    // uses: receivers reject signatures that are too old.
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = client
        .post(url.clone())
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .body(body.to_vec());
    if let Some(secret) = secret {
        match sign(secret, id, timestamp, body) {
            Ok(sig) => request = request.header("webhook-signature", sig),
            Err(e) => {
                return Delivery::Failed {
                    error: e.to_string(),
                    retry_after: None,
                }
            }
        }
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => Delivery::Acknowledged,
        Ok(r) => Delivery::Failed {
            retry_after: r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .map(std::time::Duration::from_secs),
            error: format!("the app answered HTTP {}", r.status()),
        },
        Err(e) => Delivery::Failed {
            error: format!("cannot reach the app: {e}"),
            retry_after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_depend_on_id_timestamp_and_body() {
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string());
        let a = sign(&secret, "msg_1", 1_700_000_000, b"{}").unwrap();
        assert!(a.starts_with("v1,"));
        assert_ne!(a, sign(&secret, "msg_2", 1_700_000_000, b"{}").unwrap());
        assert_ne!(a, sign(&secret, "msg_1", 1_700_000_001, b"{}").unwrap());
        assert_ne!(a, sign(&secret, "msg_1", 1_700_000_000, b"[]").unwrap());
        assert!(sign(&SecretString::from("plain".to_string()), "m", 1, b"").is_err());
    }
}
