//! Forge's signing keys, fetched from the JWKS URL, cached by `kid`, and
//! fetched again when a token names a key we have not seen (key rotation).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use tokio::sync::Mutex;

use crate::Error;

pub struct JwksCache {
    url: String,
    client: reqwest::Client,
    cooldown: Duration,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

impl JwksCache {
    pub fn new(url: String, cooldown: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("a TLS-capable HTTP client can always be built");
        Self {
            url,
            client,
            cooldown,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// The key for `kid`, fetching the key set when it is not cached. Fetches
    /// caused by unknown ids are spaced by the cooldown so that a flood of
    /// forged `kid`s cannot turn into a flood of requests to Atlassian.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, Error> {
        let mut state = self.state.lock().await;
        if let Some(key) = state.keys.get(kid) {
            return Ok(key.clone());
        }
        let may_fetch = state
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.cooldown);
        if may_fetch {
            state.keys = self.fetch().await?;
            state.fetched_at = Some(Instant::now());
        }
        state.keys.get(kid).cloned().ok_or_else(|| {
            Error::unauthorized(format!(
                "the Forge invocation token names key id {kid:?}, which is not in the Forge key set"
            ))
        })
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, Error> {
        let unavailable = |e: String| {
            Error::Unavailable(format!(
                "cannot fetch Forge signing keys from {}: {e}",
                self.url
            ))
        };
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, key))
            })
            .collect::<HashMap<_, _>>();
        tracing::info!(url = %self.url, keys = keys.len(), "fetched Forge signing keys");
        Ok(keys)
    }
}
