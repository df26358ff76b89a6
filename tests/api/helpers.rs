//! `spawn_app()` and friends: a fresh database, aarc on a random port, a fake
//! Forge key server, and token signing.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;

use aarc::config::Config;
use aarc::ingest::connection_host::ConnectionHost;
use aarc::startup::Application;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;

pub use crate::fakes::{start_jwks_server, JwksServer};

pub const FORGE_APP_ID: &str = "0b1d2c3e-4f50-4a6b-9c7d-8e9f0a1b2c3d";
pub const OPERATOR_TOKEN: &str = "operator-token-for-tests";
pub const SERVICE_TOKEN: &str = "service-token-for-tests";
pub const WEBHOOK: &str = "/webhooks/atlassian";

/// The server all test databases live on: `DATABASE_URL`'s, or the local cluster.
async fn server_url() -> String {
    static URL: OnceCell<String> = OnceCell::const_new();
    URL.get_or_init(|| async {
        let url = match std::env::var("DATABASE_URL") {
            Ok(url) => url,
            Err(_) => aarc::localdb::LocalDb::ensure(std::path::Path::new(".aarc"))
                .await
                .expect("the local PostgreSQL cluster starts")
                .url(),
        };
        // Databases left by earlier runs are dropped before this run makes any.
        let mut conn = PgConnection::connect(&url)
            .await
            .expect("connect to the test server");
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'aarc\\_test\\_%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for db in stale {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
        url
    })
    .await
    .clone()
}

/// A new, migrated database; returns its URL.
pub async fn fresh_database() -> String {
    let url = empty_database().await;
    let pool = PgPool::connect(&url).await.unwrap();
    aarc::store::migrate(&pool).await.unwrap();
    pool.close().await;
    url
}

/// A new database without any schema; returns its URL.
pub async fn empty_database() -> String {
    let server = server_url().await;
    let name = format!("aarc_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&server).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&name);
    url.to_string()
}

pub fn test_jwk(n: u8) -> Value {
    let text = std::fs::read_to_string(format!("tests/keys/forge-test-{n}.jwk.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub struct TestApp {
    pub address: String,
    pub config: Config,
    pub pool: PgPool,
    pub jwks: JwksServer,
    pub client: reqwest::Client,
    /// Where the app's group-commit writers took their connections.
    pub writer_connections: Arc<ConnectionHost>,
}

pub fn base_vars(db_url: &str, jwks_url: &str) -> HashMap<String, String> {
    [
        ("DATABASE_URL", db_url),
        (
            "AARC_FORGE_APP_IDS",
            &format!("ari:cloud:ecosystem::app/{FORGE_APP_ID}"),
        ),
        ("AARC_FORGE_JWKS_URL", jwks_url),
        ("AARC_OPERATOR_TOKENS", &format!("ops:{OPERATOR_TOKEN}")),
        ("AARC_SERVICE_TOKENS", &format!("svc:{SERVICE_TOKEN}")),
        ("AARC_DB_POOL_SIZE", "8"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Variables as `spawn_app_with_vars` takes them.
pub fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts aarc on a random port against a fresh database; `tweak` may change
/// the configuration before it is built.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with_vars(&[], tweak).await
}

/// `spawn_app_with`, with variables added to (or replacing) the test ones.
pub async fn spawn_app_with_vars(
    extra: &[(String, String)],
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    spawn_app_on(&fresh_database().await, extra, tweak).await
}

/// A server on an existing database (a second replica of another test app).
pub async fn spawn_app_on(
    db_url: &str,
    extra: &[(String, String)],
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let db_url = db_url.to_string();
    let jwks = start_jwks_server(vec![test_jwk(1)]);
    let mut vars = base_vars(&db_url, &jwks.url);
    vars.extend(extra.iter().cloned());
    let mut config = Config::from_map(&vars).unwrap();
    config.jwks_refetch_cooldown = std::time::Duration::ZERO;
    config.reconciler = false; // tests run passes themselves, with a pretend clock
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::build_with_listener(config.clone(), listener)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = PgPool::connect(&db_url).await.unwrap();
    let writer_connections = app.writer_connections();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        config,
        pool,
        jwks,
        writer_connections,
        // Idle connections are dropped before actix's 5 s keep-alive closes
        // them, so a slow test never reuses a connection the server just shut.
        client: reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .unwrap(),
    }
}

/// A Connect tenant registered through the admin route.
pub struct ConnectTenant {
    pub client_key: String,
    pub secret: String,
    pub cloud_id: String,
    pub base_url: String,
}

impl ConnectTenant {
    pub fn new() -> Self {
        let n = uuid::Uuid::new_v4();
        Self {
            client_key: format!("client-{}", n.simple()),
            secret: format!("secret-{}", uuid::Uuid::new_v4().simple()),
            cloud_id: n.to_string(),
            base_url: format!(
                "https://site-{}.atlassian.net",
                &n.simple().to_string()[..8]
            ),
        }
    }

    /// A webhook JWT for `POST /webhooks/atlassian?query`.
    pub fn jwt(&self, query: &str) -> String {
        connect_jwt(
            &self.client_key,
            &self.secret,
            "POST",
            WEBHOOK,
            query,
            180,
            None,
        )
    }
}

/// Signs a Connect JWT; `qsh` overrides the computed hash when given.
pub fn connect_jwt(
    iss: &str,
    secret: &str,
    method: &str,
    path: &str,
    query: &str,
    expires_in: i64,
    qsh: Option<&str>,
) -> String {
    let now = chrono::Utc::now().timestamp();
    let qsh = qsh
        .map(str::to_string)
        .unwrap_or_else(|| aarc::ingest::auth::qsh::qsh(method, path, query));
    let claims = json!({"iss": iss, "iat": now - 5, "exp": now + expires_in, "qsh": qsh});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Claims of a Forge Invocation Token for an installation on `cloud_id`.
pub fn fit_claims(installation: &str, cloud_id: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": "forge/invocation-token",
        "aud": format!("ari:cloud:ecosystem::app/{FORGE_APP_ID}"),
        "iat": now - 5, "nbf": now - 5, "exp": now + 120,
        "jti": uuid::Uuid::new_v4().to_string(),
        "app": {
            "id": format!("ari:cloud:ecosystem::app/{FORGE_APP_ID}"),
            "installationId": installation,
            "apiBaseUrl": format!("https://api.atlassian.com/ex/confluence/{cloud_id}"),
            "installation": {"contexts": [{"cloudId": cloud_id, "product": "confluence"}]}
        },
        "context": {"cloudId": cloud_id}
    })
}

/// Signs claims as Forge would, with test key `n` (kid `test-key-n`).
pub fn sign_fit(claims: &Value, key: u8) -> String {
    let pem = std::fs::read(format!("tests/keys/forge-test-{key}.pem")).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(format!("test-key-{key}"));
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap()
}

pub fn new_forge_installation() -> (String, String) {
    (
        format!("ari:cloud:ecosystem::installation/{}", uuid::Uuid::new_v4()),
        uuid::Uuid::new_v4().to_string(),
    )
}

pub fn v2_objects_event(cloud_id: &str, ids: &[&str]) -> Value {
    json!({
        "specversion": "1.0", "id": uuid::Uuid::new_v4().to_string(),
        "source": "atlassian.com/ecosystem", "time": "2026-11-20T08:08:08Z",
        "type": "avi:ecosystem.app_policy:blocked:app_access_to_objects.v2",
        "data": {"workspace": {"cloudId": cloud_id},
                 "objects": [{"product": "confluence", "type": "page", "ids": ids}]}
    })
}

impl TestApp {
    /// The database this server uses, for CLI commands run beside it.
    pub fn database_url(&self) -> String {
        let url = self
            .config
            .database_url
            .as_ref()
            .expect("tests set DATABASE_URL");
        secrecy::ExposeSecret::expose_secret(url).to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET path` with a bearer token; it must answer 200, with JSON.
    pub async fn get_ok(&self, path: &str, token: &str) -> Value {
        let res = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    pub async fn register(&self, t: &ConnectTenant) {
        let res = self
            .client
            .put(self.url(&format!("/admin/tenants/{}", t.client_key)))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"sharedSecret": t.secret, "baseUrl": t.base_url, "cloudId": t.cloud_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }

    pub async fn connect_tenant(&self) -> ConnectTenant {
        let t = ConnectTenant::new();
        self.register(&t).await;
        t
    }

    /// Posts a structured-mode event signed by a Connect tenant.
    pub async fn post_structured(&self, t: &ConnectTenant, event: &Value) -> reqwest::Response {
        let structured = "application/cloudevents+json; charset=UTF-8";
        self.post_body(t, structured, event.to_string()).await
    }

    /// Posts `body` as sent, of `content_type`, signed by a Connect tenant.
    pub async fn post_body(
        &self,
        t: &ConnectTenant,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(WEBHOOK))
            .header("Authorization", format!("JWT {}", t.jwt("")))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str, cloud_id: &str) -> i64 {
        sqlx::query_scalar(sql)
            .bind(cloud_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub async fn inbox_count(&self, cloud_id: &str) -> i64 {
        self.count(
            "SELECT count(*) FROM inbox_events WHERE cloud_id = $1",
            cloud_id,
        )
        .await
    }

    pub async fn blocked_count(&self, cloud_id: &str) -> i64 {
        self.count(
            "SELECT count(*) FROM blocked_objects WHERE cloud_id = $1",
            cloud_id,
        )
        .await
    }
}

/// Reads a problem+json answer, checking its shape.
pub async fn problem(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(ct, "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["type"]
        .as_str()
        .unwrap()
        .starts_with("urn:aarc:problem:"));
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}
