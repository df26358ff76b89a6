//! Asking Atlassian whether a site's product still blocks any content:
//! Confluence `GET …/wiki/api/v2/data-policies/metadata`, Jira
//! `GET …/rest/api/3/data-policy`, both answering `{"anyContentBlocked": bool}`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::ingest::auth::connect;
use crate::store::tenants::VerificationTarget;

/// What a verification call established.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    AnyBlocked(bool),
    /// Verification cannot be attempted (no credentials, unknown product).
    Unavailable(String),
    /// The call failed; nothing may change on its account.
    Failed {
        error: String,
        retry_after: Option<Duration>,
    },
}

fn api_path(product: &str) -> Option<&'static str> {
    match product {
        "confluence" => Some("/wiki/api/v2/data-policies/metadata"),
        "jira" => Some("/rest/api/3/data-policy"),
        _ => None,
    }
}

/// The Forge API base URL for `product`: `…/ex/{product}/{cloudId}`.
fn forge_base(api_base_url: &str, product: &str, cloud_id: &str) -> String {
    let trimmed = api_base_url.trim_end_matches('/');
    match trimmed.find("/ex/") {
        Some(i) => format!("{}/ex/{product}/{cloud_id}", &trimmed[..i]),
        None => trimmed.to_string(),
    }
}

/// Asks Atlassian whether `product` on `cloud_id` blocks any content, and
/// counts the answer in the metrics.
pub async fn verify(
    client: &reqwest::Client,
    target: &VerificationTarget,
    app_key: Option<&str>,
    cloud_id: &str,
    product: &str,
) -> Verdict {
    let verdict = ask(client, target, app_key, cloud_id, product).await;
    let outcome = match &verdict {
        Verdict::AnyBlocked(true) => "blocked",
        Verdict::AnyBlocked(false) => "not_blocked",
        Verdict::Unavailable(_) => "unavailable",
        Verdict::Failed { .. } => "failed",
    };
    crate::metrics::METRICS.verification_call(outcome);
    verdict
}

async fn ask(
    client: &reqwest::Client,
    target: &VerificationTarget,
    app_key: Option<&str>,
    cloud_id: &str,
    product: &str,
) -> Verdict {
    let Some(path) = api_path(product) else {
        return Verdict::Unavailable(format!(
            "Atlassian offers no data-policy API for product {product}"
        ));
    };
    let request = match target {
        VerificationTarget::Connect {
            base_url,
            shared_secret,
        } => {
            let Some(app_key) = app_key else {
                return Verdict::Unavailable(
                    "AARC_APP_KEY is not set: cannot sign Connect requests".into(),
                );
            };
            match connect_request(client, base_url, shared_secret, app_key, path) {
                Ok(r) => r,
                Err(e) => return Verdict::Unavailable(e),
            }
        }
        VerificationTarget::Forge {
            api_base_url,
            system_token,
        } => client
            .get(format!(
                "{}{path}",
                forge_base(api_base_url, product, cloud_id)
            ))
            .bearer_auth(system_token.expose_secret()),
    };
    let response = match request.header("Accept", "application/json").send().await {
        Ok(r) => r,
        Err(e) => {
            return Verdict::Failed {
                error: format!("request failed: {e}"),
                retry_after: None,
            }
        }
    };
    let status = response.status();
    if status.as_u16() == 429 {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Verdict::Failed {
            error: "rate limited (429)".into(),
            retry_after: retry_after.or(Some(Duration::from_secs(60))),
        };
    }
    if !status.is_success() {
        return Verdict::Failed {
            error: format!("HTTP {status}"),
            retry_after: None,
        };
    }
    match response.json::<serde_json::Value>().await {
        Ok(body) => match body.get("anyContentBlocked").and_then(|v| v.as_bool()) {
            Some(b) => Verdict::AnyBlocked(b),
            None => Verdict::Failed {
                error: "the answer has no boolean anyContentBlocked".into(),
                retry_after: None,
            },
        },
        Err(e) => Verdict::Failed {
            error: format!("the answer is not JSON: {e}"),
            retry_after: None,
        },
    }
}

/// A GET to the tenant's site, signed with a Connect JWT whose qsh covers the
/// path relative to the tenant's baseUrl.
fn connect_request(
    client: &reqwest::Client,
    base_url: &str,
    secret: &SecretString,
    app_key: &str,
    path: &str,
) -> Result<reqwest::RequestBuilder, String> {
    let base = url::Url::parse(base_url).map_err(|e| format!("tenant baseUrl {base_url}: {e}"))?;
    let origin = base.origin().ascii_serialization();
    let prefix = base.path().trim_end_matches('/');
    // qsh paths are relative to the baseUrl: …/wiki + /wiki/api/… signs /api/….
    let relative = path
        .strip_prefix(prefix)
        .filter(|_| !prefix.is_empty())
        .unwrap_or(path);
    let token = connect::sign(app_key, secret, "GET", relative, "").map_err(|e| e.to_string())?;
    Ok(client
        .get(format!("{origin}{path}"))
        .header("Authorization", format!("JWT {token}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forge_urls_name_the_product_and_site() {
        assert_eq!(
            forge_base("https://api.atlassian.com/ex/confluence/abc", "jira", "abc"),
            "https://api.atlassian.com/ex/jira/abc"
        );
        assert_eq!(api_path("jira"), Some("/rest/api/3/data-policy"));
        assert_eq!(api_path("bitbucket"), None);
    }
}
