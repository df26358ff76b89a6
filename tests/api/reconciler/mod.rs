//! The reconciler through the whole life of an object, with a pretend clock,
//! a fake Atlassian and a fake app on 127.0.0.1.

use std::collections::HashSet;
use std::sync::Arc;

use aarc::reconcile::{PassReport, Reconciler};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::fakes::{Answer, FakeServer};
use crate::helpers::*;

mod hiding;
mod operator_routes;
mod purging;

const CALLBACK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub struct World {
    pub app: TestApp,
    pub atlassian: FakeServer,
    pub callback: FakeServer,
    pub tenant: ConnectTenant,
    pub t0: DateTime<Utc>,
    /// One reconciler for every `pass_at`, as a running aarc has: it
    /// remembers which sites it has scanned, so each test also checks that
    /// what changed between passes is seen by the next one.
    passes: Reconciler,
}

impl World {
    pub async fn new(verify: bool) -> Self {
        let atlassian = FakeServer::start(Answer::json(200, json!({"anyContentBlocked": true})));
        let callback = FakeServer::start(Answer::json(200, json!({})));
        let cb = callback.url.clone();
        let app = spawn_app_with(move |c| {
            c.verify = verify;
            c.app_key = Some("com.example.app".into());
            c.app_callback_url = Some(url::Url::parse(&format!("{cb}/aarc")).unwrap());
            c.app_callback_secret = Some(secrecy::SecretString::from(CALLBACK_SECRET.to_string()));
        })
        .await;
        let mut tenant = ConnectTenant::new();
        tenant.base_url = atlassian.url.clone();
        app.register(&tenant).await;
        let passes = Reconciler::new(app.pool.clone(), Arc::new(app.config.clone()));
        Self {
            app,
            atlassian,
            callback,
            tenant,
            t0: Utc::now(),
            passes,
        }
    }

    pub fn reconciler(&self) -> Reconciler {
        Reconciler::new(self.app.pool.clone(), Arc::new(self.app.config.clone()))
    }

    pub async fn pass_at(&self, offset: Duration) -> PassReport {
        self.passes.run_pass(self.t0 + offset, false).await.unwrap()
    }

    pub async fn block(&self, ids: &[&str]) -> Value {
        let mut event = v2_objects_event(&self.tenant.cloud_id, ids);
        event["time"] = json!(self.t0.to_rfc3339());
        assert_eq!(
            self.app
                .post_structured(&self.tenant, &event)
                .await
                .status(),
            202
        );
        event
    }

    pub async fn policy(&self, action: &str, grace: &str, review: &str) {
        let res = self
            .app
            .client
            .put(
                self.app
                    .url(&format!("/admin/sites/{}/policies", self.tenant.cloud_id)),
            )
            .bearer_auth(OPERATOR_TOKEN)
            .json(
                &json!({"policies": [{"product": "confluence", "type": "page", "action": action,
                                        "grace": grace, "review": review}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }

    pub async fn status(&self, id: &str) -> Value {
        self.page_as_service(id, "").await
    }

    /// `GET …/objects/confluence/page/{id}/history` as a service.
    pub async fn history(&self, id: &str) -> Value {
        self.page_as_service(id, "/history").await
    }

    /// `GET …/objects/confluence/page/{id}{rest}` as a service, as JSON.
    async fn page_as_service(&self, id: &str, rest: &str) -> Value {
        let path = format!(
            "/v1/sites/{}/objects/confluence/page/{id}{rest}",
            self.tenant.cloud_id
        );
        self.app.get_ok(&path, SERVICE_TOKEN).await
    }

    pub async fn state(&self, id: &str) -> String {
        self.status(id).await["state"].as_str().unwrap().to_string()
    }

    /// Callback bodies received, parsed, each with its webhook-id.
    pub fn notifications(&self) -> Vec<(String, Value)> {
        self.callback
            .recorded()
            .iter()
            .map(|r| {
                (
                    r.headers["webhook-id"].clone(),
                    serde_json::from_slice(&r.body).unwrap(),
                )
            })
            .collect()
    }

    /// The `type` of each notification sent to the app, in order.
    pub fn notification_kinds(&self) -> Vec<String> {
        self.notifications()
            .iter()
            .map(|(_, b)| b["type"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn decision_of(&self, id: &str) -> String {
        self.status(id).await["decision_id"]
            .as_str()
            .expect("a decision")
            .to_string()
    }

    pub async fn act(&self, decision: &str, action: &str) -> reqwest::Response {
        self.app
            .client
            .post(
                self.app
                    .url(&format!("/admin/decisions/{decision}/{action}")),
            )
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"reason": format!("{action} after checking with the customer")}))
            .send()
            .await
            .unwrap()
    }
}

/// Standard Webhooks verification written from the scheme's description with
/// a different HMAC implementation (ring) than aarc's (RustCrypto hmac).
fn verify_standard_webhook(
    secret: &str,
    headers: &std::collections::HashMap<String, String>,
    body: &[u8],
) -> bool {
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key_bytes);
    let mut signed = format!(
        "{}.{}.",
        headers["webhook-id"], headers["webhook-timestamp"]
    )
    .into_bytes();
    signed.extend_from_slice(body);
    let expected =
        base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, &signed).as_ref());
    let ts: i64 = headers["webhook-timestamp"].parse().unwrap();
    (Utc::now().timestamp() - ts).abs() < 300
        && headers["webhook-signature"]
            .split(' ')
            .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}
