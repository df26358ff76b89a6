//! `aarc send FILE… --tenant CLIENT_KEY`: signs event files as Atlassian
//! would (a Connect JWT with the tenant's shared secret and the request's
//! qsh) and posts them to a running aarc, printing each answer. It is the
//! first-run path of the README and a way to replay captured deliveries.

use std::path::{Path, PathBuf};
use std::time::Instant;

use secrecy::SecretString;

use super::cli_pool as pool;
use crate::config::Config;
use crate::ingest::auth::connect;
use crate::store::tenants;
use crate::Error;

pub struct SendArgs {
    pub files: Vec<PathBuf>,
    pub tenant: String,
    pub url: Option<String>,
    pub content_type: Option<String>,
}

/// The webhook URL: `--url` (a base URL or the whole webhook URL), or the
/// configured listen address with a wildcard host replaced by loopback.
pub fn webhook_url(url: Option<&str>, listen: &str) -> Result<url::Url, Error> {
    let raw = match url {
        Some(u) => u.to_string(),
        None => {
            let local = listen
                .replace("0.0.0.0:", "127.0.0.1:")
                .replace("[::]:", "[::1]:");
            format!("http://{local}")
        }
    };
    let mut parsed =
        url::Url::parse(&raw).map_err(|e| Error::invalid(format!("--url {raw:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::invalid(format!(
            "--url {raw:?} is not http or https"
        )));
    }
    if parsed.path() == "/" || parsed.path().is_empty() {
        parsed.set_path("/webhooks/atlassian");
    }
    Ok(parsed)
}

/// The content type a body declares by its shape: a JSON array is a batch,
/// an object with `specversion` a structured CloudEvent, anything else a
/// plain JSON delivery.
pub fn content_type_of(body: &[u8]) -> &'static str {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(_)) => "application/cloudevents-batch+json",
        Ok(v) if v.get("specversion").is_some() => "application/cloudevents+json",
        _ => "application/json",
    }
}

pub async fn send(config: &Config, args: SendArgs) -> Result<(), Error> {
    if args.files.is_empty() {
        return Err(Error::invalid("name at least one file to send"));
    }
    let tenant = tenants::find_connect(&pool(config).await?, &args.tenant)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no Connect tenant {:?}: add it with `aarc tenants add` first",
                args.tenant
            ))
        })?;
    let secret = tenant
        .shared_secret
        .clone()
        .ok_or_else(|| Error::invalid(format!("tenant {} has no shared secret", args.tenant)))?;
    let url = webhook_url(args.url.as_deref(), &config.listen)?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
    let total = args.files.len();
    let started = Instant::now();
    let mut refused = 0usize;
    for (i, file) in args.files.iter().enumerate() {
        let body = read(file)?;
        let content_type = args
            .content_type
            .clone()
            .unwrap_or_else(|| content_type_of(&body).to_string());
        let status = post(&client, &url, &args.tenant, &secret, &content_type, body).await;
        let (code, text) = match status {
            Ok(answer) => answer,
            Err(e) => {
                return Err(Error::Unavailable(format!(
                    "{}: cannot reach aarc at {url}: {e} (is `aarc serve` running?)",
                    file.display()
                )))
            }
        };
        if !(200..300).contains(&code) {
            refused += 1;
        }
        if total == 1 {
            println!("HTTP {code}");
            println!("{text}");
        } else {
            // Progress for long replays: one line per file, with the pace.
            let rate = (i + 1) as f64 / started.elapsed().as_secs_f64().max(1e-3);
            println!(
                "[{}/{total}] {} → HTTP {code} ({rate:.0} files/s){}",
                i + 1,
                file.display(),
                if (200..300).contains(&code) {
                    String::new()
                } else {
                    format!(": {text}")
                }
            );
        }
    }
    if refused > 0 {
        return Err(Error::invalid(format!(
            "{refused} of {total} request(s) were refused"
        )));
    }
    Ok(())
}

fn read(file: &Path) -> Result<Vec<u8>, Error> {
    if file.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut body)
            .map_err(|e| Error::invalid(format!("standard input: {e}")))?;
        return Ok(body);
    }
    std::fs::read(file).map_err(|e| Error::invalid(format!("{}: {e}", file.display())))
}

/// One signed POST; the status and the (pretty, when JSON) body.
async fn post(
    client: &reqwest::Client,
    url: &url::Url,
    client_key: &str,
    secret: &SecretString,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(u16, String), reqwest::Error> {
    // Atlassian signs with the tenant's clientKey as issuer; the qsh covers
    // the method, path and query aarc will see.
    let token = connect::sign(
        client_key,
        secret,
        "POST",
        url.path(),
        url.query().unwrap_or(""),
    )
    .unwrap_or_default();
    let res = client
        .post(url.clone())
        .header("Authorization", format!("JWT {token}"))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await?;
    let code = res.status().as_u16();
    let text = res.text().await?;
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    Ok((code, pretty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_defaults_to_the_listen_address_on_loopback() {
        assert_eq!(
            webhook_url(None, "0.0.0.0:8080").unwrap().as_str(),
            "http://127.0.0.1:8080/webhooks/atlassian"
        );
        assert_eq!(
            webhook_url(Some("https://aarc.example.com"), "x")
                .unwrap()
                .as_str(),
            "https://aarc.example.com/webhooks/atlassian"
        );
        assert_eq!(
            webhook_url(Some("http://h:1/custom/hook"), "x")
                .unwrap()
                .as_str(),
            "http://h:1/custom/hook"
        );
        assert!(webhook_url(Some("ftp://h"), "x").is_err());
        assert!(webhook_url(Some("not a url"), "x").is_err());
    }

    #[test]
    fn the_content_type_follows_the_body() {
        assert_eq!(
            content_type_of(br#"[{"specversion":"1.0"}]"#),
            "application/cloudevents-batch+json"
        );
        assert_eq!(
            content_type_of(br#"{"specversion":"1.0"}"#),
            "application/cloudevents+json"
        );
        assert_eq!(content_type_of(br#"{"eventType":"x"}"#), "application/json");
        assert_eq!(content_type_of(b"garbage"), "application/json");
    }
}
