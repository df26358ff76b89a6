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
        self.app
            .client
            .get(self.app.url(&format!(
                "/v1/sites/{}/objects/confluence/page/{id}",
                self.tenant.cloud_id
            )))
            .bearer_auth(SERVICE_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET …/objects/confluence/page/{id}/history` as a service.
    pub async fn history(&self, id: &str) -> Value {
        self.app
            .client
            .get(self.app.url(&format!(
                "/v1/sites/{}/objects/confluence/page/{id}/history",
                self.tenant.cloud_id
            )))
            .bearer_auth(SERVICE_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
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

#[tokio::test]
async fn hide_hides_at_once_and_tells_the_app_with_a_valid_signature() {
    let w = World::new(false).await;
    w.block(&["1", "2"]).await;
    let report = w.pass_at(Duration::zero()).await;
    assert_eq!(report.hidden, 2);
    assert_eq!(w.state("1").await, "hidden");
    assert_eq!(
        w.status("1").await["purge_after"],
        Value::Null,
        "hide never purges"
    );
    let recorded = w.callback.recorded();
    assert_eq!(recorded.len(), 1);
    assert!(verify_standard_webhook(
        CALLBACK_SECRET,
        &recorded[0].headers,
        &recorded[0].body
    ));
    let (_, body) = &w.notifications()[0];
    assert_eq!(body["type"], "retention.hide");
    assert_eq!(body["cloudId"], w.tenant.cloud_id);
    assert_eq!(body["decisionId"], Value::Null);
    assert_eq!(
        body["objects"],
        json!([{"product": "confluence", "type": "page", "id": "1"},
                                      {"product": "confluence", "type": "page", "id": "2"}])
    );
    // A second pass finds nothing to do and sends nothing again.
    let again = w.pass_at(Duration::minutes(5)).await;
    assert_eq!((again.hidden, again.delivered), (0, 0));
    assert_eq!(w.callback.recorded().len(), 1);
    // The history shows the event and the transition with its pass.
    let h = w.history("1").await;
    let kinds: Vec<&str> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["event", "transition"]);
    assert_eq!(h["history"][1]["to"], "hidden");
    assert_eq!(
        h["history"][1]["cause"]["pass_id"],
        report.pass_id.to_string()
    );
}

#[tokio::test]
async fn keep_leaves_objects_blocked_and_says_nothing() {
    let w = World::new(false).await;
    w.policy("keep", "30d", "required").await;
    w.block(&["1"]).await;
    let report = w.pass_at(Duration::days(400)).await;
    assert_eq!((report.hidden, report.decisions), (0, 0));
    assert_eq!(w.state("1").await, "blocked");
    assert!(w.callback.recorded().is_empty());
}

#[tokio::test]
async fn a_pass_sees_policy_changes_and_new_blocks_on_sites_it_scanned_before() {
    let w = World::new(false).await;
    w.policy("keep", "30d", "required").await;
    w.block(&["1"]).await;
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 0);
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 0);
    // Only the policy changes: the blocked row itself is as it was.
    w.policy("hide", "30d", "required").await;
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 1);
    assert_eq!(w.state("1").await, "hidden");
    // A new block on a site the reconciler has just scanned.
    w.block(&["2", "3"]).await;
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 2);
    assert_eq!(w.state("3").await, "hidden");
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 0);
}

#[tokio::test]
async fn a_row_locked_by_a_transaction_that_rolls_back_is_hidden_at_the_next_pass() {
    let w = World::new(false).await;
    w.policy("hide", "30d", "required").await;
    w.block(&["1"]).await;
    // Another transaction holds the row (a dry run, say) during the pass…
    let mut holder = w.app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM blocked_objects WHERE cloud_id = $1 AND object_id = '1' FOR UPDATE")
        .bind(&w.tenant.cloud_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 0);
    // … and rolls back: the site's counter did not move, yet the row is due.
    holder.rollback().await.unwrap();
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 1);
    assert_eq!(w.state("1").await, "hidden");
}

#[tokio::test]
async fn a_site_is_hidden_chunk_by_chunk_in_key_order_without_gaps() {
    use aarc::store::policies::DefaultPolicy;
    use aarc::store::reconcile::{hide_chunk, HideCursor, PassContext};
    let w = World::new(false).await;
    w.policy("hide", "30d", "required").await;
    w.block(&["e", "a", "d", "b", "c"]).await;
    let c = &w.app.config;
    let ctx = PassContext {
        pass_id: uuid::Uuid::new_v4(),
        now: w.t0,
        defaults: DefaultPolicy {
            action: c.default_action,
            grace: c.default_grace,
            review: c.default_review,
        },
    };
    let mut conn = w.app.pool.acquire().await.unwrap();
    let (mut after, mut chunks) = (HideCursor::default(), Vec::new());
    loop {
        let chunk = hide_chunk(&mut conn, &ctx, &w.tenant.cloud_id, &after, 2)
            .await
            .unwrap();
        assert!(!chunk.skipped);
        chunks.push((
            chunk.hidden,
            chunk.next.as_ref().map(|n| n.object_id.clone()),
        ));
        match chunk.next {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(
        chunks,
        vec![(2, Some("b".into())), (2, Some("d".into())), (1, None)]
    );
    for id in ["a", "b", "c", "d", "e"] {
        assert_eq!(w.state(id).await, "hidden", "{id}");
    }
}

#[tokio::test]
async fn purge_with_review_waits_for_an_operator_then_purges_on_acknowledgement() {
    let w = World::new(true).await;
    w.policy("purge", "7d", "required").await;
    w.block(&["1", "2"]).await;
    w.pass_at(Duration::zero()).await;
    assert_eq!(w.state("1").await, "hidden");
    let status = w.status("1").await;
    let purge_after: DateTime<Utc> = status["purge_after"].as_str().unwrap().parse().unwrap();
    assert!(
        ((purge_after - w.t0).num_milliseconds() - 7 * 86_400_000).abs() < 1000,
        "{purge_after}"
    );
    // Inside the grace period nothing is decided.
    assert_eq!(w.pass_at(Duration::days(6)).await.decisions, 0);
    let report = w.pass_at(Duration::days(8)).await;
    assert_eq!(
        (report.decisions, report.decided_objects),
        (1, 2),
        "{report}"
    );
    assert_eq!(w.state("1").await, "pending_review");
    // The block was verified with Atlassian first, with a Connect JWT aarc signed.
    let asked = w.atlassian.recorded();
    let call = asked
        .iter()
        .find(|r| r.path == "/wiki/api/v2/data-policies/metadata")
        .expect("verified");
    let token = call.headers["authorization"].strip_prefix("JWT ").unwrap();
    assert_eq!(
        aarc::ingest::auth::connect::unverified_issuer(token).unwrap(),
        "com.example.app"
    );
    aarc::ingest::auth::connect::verify(
        token,
        &secrecy::SecretString::from(w.tenant.secret.clone()),
        "GET",
        "/wiki/api/v2/data-policies/metadata",
        "",
    )
    .unwrap();
    // Nothing is purged without approval, however long it waits.
    w.pass_at(Duration::days(60)).await;
    assert_eq!(w.state("2").await, "pending_review");
    let decision = w.decision_of("1").await;
    let res = w.act(&decision, "approve").await;
    assert_eq!(res.status(), 200);
    assert_eq!(w.state("1").await, "purging");
    let report = w.pass_at(Duration::days(61)).await;
    assert_eq!(report.delivered, 1);
    assert_eq!(w.state("1").await, "purged");
    assert_eq!(w.state("2").await, "purged");
    let purge = w
        .notifications()
        .into_iter()
        .find(|(_, b)| b["type"] == "retention.purge")
        .unwrap();
    assert_eq!(purge.1["decisionId"], decision);
    let detail: Value = w
        .app
        .client
        .get(w.app.url(&format!("/admin/decisions/{decision}")))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["decision"]["state"], "purged");
    assert_eq!(detail["objects"].as_array().unwrap().len(), 2);
    assert_eq!(detail["audit"][0]["actor"], "ops");
    assert_eq!(detail["audit"][0]["action"], "approve");
    // Approving again is refused: the decision is no longer pending.
    let again = w.act(&decision, "approve").await;
    problem(again, 409).await;
}

#[tokio::test]
async fn purge_with_auto_review_purges_after_grace_without_an_operator() {
    let w = World::new(true).await;
    w.policy("purge", "1d", "auto").await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await;
    let report = w.pass_at(Duration::days(2)).await;
    assert_eq!(report.decisions, 1);
    assert_eq!(w.state("1").await, "purged", "{report}");
    let kinds: Vec<String> = w
        .notifications()
        .iter()
        .map(|(_, b)| b["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, vec!["retention.hide", "retention.purge"]);
}

#[tokio::test]
async fn an_unblock_found_by_verification_during_grace_restores_and_never_purges() {
    let w = World::new(true).await;
    w.policy("purge", "30d", "auto").await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await;
    assert_eq!(w.state("1").await, "hidden");
    w.atlassian
        .set_default(Answer::json(200, json!({"anyContentBlocked": false})));
    // The daily verification is due a day later.
    let report = w.pass_at(Duration::days(1) + Duration::minutes(1)).await;
    assert_eq!(report.restored, 1, "{report}");
    assert_eq!(w.state("1").await, "restored");
    assert_eq!(w.status("1").await["blocked"], false);
    w.pass_at(Duration::days(40)).await;
    assert_eq!(w.state("1").await, "restored");
    let kinds: Vec<String> = w
        .notifications()
        .iter()
        .map(|(_, b)| b["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, vec!["retention.hide", "retention.restore"]);
}

#[tokio::test]
async fn failing_or_rate_limited_verification_changes_nothing() {
    let w = World::new(true).await;
    w.policy("purge", "1d", "auto").await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await; // first verification (true) + hide
    let calls_before = w.atlassian.recorded().len();
    w.atlassian
        .then(Answer::json(500, json!({"message": "boom"})));
    let report = w.pass_at(Duration::days(2)).await;
    assert_eq!((report.decisions, report.restored), (0, 0), "{report}");
    assert_eq!(w.state("1").await, "hidden");
    assert_eq!(w.atlassian.recorded().len(), calls_before + 1);
    // After an error the pair is not asked again for 15 minutes.
    w.pass_at(Duration::days(2) + Duration::minutes(5)).await;
    assert_eq!(w.atlassian.recorded().len(), calls_before + 1);
    let mut limited = Answer::json(429, json!({}));
    limited.headers.push(("Retry-After".into(), "3600".into()));
    w.atlassian.then(limited);
    let report = w.pass_at(Duration::days(2) + Duration::minutes(20)).await;
    assert_eq!((report.decisions, report.restored), (0, 0));
    assert_eq!(w.atlassian.recorded().len(), calls_before + 2);
    // Retry-After is honoured: no call before the hour is up.
    w.pass_at(Duration::days(2) + Duration::minutes(50)).await;
    assert_eq!(w.atlassian.recorded().len(), calls_before + 2);
    assert_eq!(w.state("1").await, "hidden");
    let report = w.pass_at(Duration::days(2) + Duration::minutes(90)).await;
    assert_eq!(report.decisions, 1, "{report}");
    assert_eq!(w.state("1").await, "purged");
}

#[tokio::test]
async fn no_credentials_means_verification_is_unavailable_and_nothing_is_purged() {
    let w = World::new(true).await;
    let app_without_key = {
        let mut c = w.app.config.clone();
        c.app_key = None;
        Reconciler::new(w.app.pool.clone(), Arc::new(c))
    };
    w.policy("purge", "1d", "auto").await;
    w.block(&["1"]).await;
    let report = app_without_key
        .run_pass(w.t0 + Duration::days(3), false)
        .await
        .unwrap();
    assert!(
        report
            .verifications
            .iter()
            .any(|v| v.contains("AARC_APP_KEY")),
        "{report}"
    );
    assert_eq!(report.decisions, 0);
    assert_eq!(w.state("1").await, "hidden");
}

#[tokio::test]
async fn a_failing_callback_is_retried_with_the_same_webhook_id_until_acknowledged() {
    let w = World::new(false).await;
    w.policy("purge", "1d", "auto").await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await; // hide, delivered
    w.callback.then(Answer::json(500, json!({})));
    w.callback.then(Answer::json(503, json!({})));
    let first = w.pass_at(Duration::days(2)).await;
    assert_eq!(
        (first.decisions, first.delivery_failures),
        (1, 1),
        "{first}"
    );
    assert_eq!(w.state("1").await, "purging");
    // Before the backoff has passed nothing is sent.
    w.pass_at(Duration::days(2) + Duration::seconds(5)).await;
    assert_eq!(w.callback.recorded().len(), 2);
    let second = w.pass_at(Duration::days(2) + Duration::minutes(1)).await;
    assert_eq!(second.delivery_failures, 1, "{second}");
    assert_eq!(
        w.state("1").await,
        "purging",
        "not purged without an acknowledgement"
    );
    let third = w.pass_at(Duration::days(2) + Duration::minutes(10)).await;
    assert_eq!(third.delivered, 1, "{third}");
    assert_eq!(w.state("1").await, "purged");
    let purges: Vec<(String, Value)> = w
        .notifications()
        .into_iter()
        .filter(|(_, b)| b["type"] == "retention.purge")
        .collect();
    assert_eq!(purges.len(), 3);
    let ids: HashSet<&str> = purges.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 1, "every retry carries the same webhook-id");
    for r in w.callback.recorded() {
        assert!(verify_standard_webhook(
            CALLBACK_SECRET,
            &r.headers,
            &r.body
        ));
    }
    // Acknowledged: never sent again.
    w.pass_at(Duration::days(5)).await;
    assert_eq!(w.callback.recorded().len(), 4);
}

#[tokio::test]
async fn two_passes_at_once_never_take_a_decision_or_send_a_notification_twice() {
    let w = World::new(false).await;
    w.policy("purge", "1d", "auto").await;
    let ids: Vec<String> = (0..3000).map(|i| format!("obj-{i}")).collect();
    for chunk in ids.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        w.block(&refs).await;
    }
    let states: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, count(*) FROM blocked_objects WHERE cloud_id = $1 GROUP BY state",
    )
    .bind(&w.tenant.cloud_id)
    .fetch_all(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(states, vec![("blocked".to_string(), 3000)]);
    let (a, b) = (w.reconciler(), w.reconciler());
    let now = w.t0 + Duration::hours(1);
    let (ra, rb) = tokio::join!(a.run_pass(now, false), b.run_pass(now, false));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.hidden + rb.hidden, 3000, "{ra}\n{rb}");
    // Then both again, for the purge decisions.
    let later = now + Duration::days(2);
    let (ra2, rb2) = tokio::join!(a.run_pass(later, false), b.run_pass(later, false));
    let (ra2, rb2) = (ra2.unwrap(), rb2.unwrap());
    assert_eq!(
        ra2.decided_objects + rb2.decided_objects,
        3000,
        "{ra2}\n{rb2}"
    );
    // Every object is in exactly one decision, and the decisions count exactly their objects.
    let counted: i64 =
        sqlx::query_scalar("SELECT COALESCE(sum(object_count), 0)::bigint FROM decisions")
            .fetch_one(&w.app.pool)
            .await
            .unwrap();
    assert_eq!(counted, 3000, "decisions claim {counted} objects for 3000");
    let without: i64 = w
        .app
        .count(
            "SELECT count(*) FROM blocked_objects WHERE cloud_id = $1 AND decision_id IS NULL",
            &w.tenant.cloud_id,
        )
        .await;
    assert_eq!(without, 0);
    let notified: Vec<(String, Value)> = w.notifications();
    let ids_seen: HashSet<&str> = notified.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids_seen.len(),
        notified.len(),
        "a notification was sent twice"
    );
    let hidden_objects: usize = notified
        .iter()
        .filter(|(_, b)| b["type"] == "retention.hide")
        .map(|(_, b)| b["objects"].as_array().unwrap().len())
        .sum();
    assert_eq!(hidden_objects, 3000);
    let purged: i64 = w
        .app
        .count(
            "SELECT count(*) FROM blocked_objects WHERE cloud_id = $1 AND state = 'purged'",
            &w.tenant.cloud_id,
        )
        .await;
    assert_eq!(purged, 3000);
}

#[tokio::test]
async fn a_new_block_after_restore_starts_a_new_cycle_but_an_older_event_does_not() {
    let w = World::new(false).await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await;
    let res = w.app.client
        .post(w.app.url(&format!("/admin/sites/{}/unblock", w.tenant.cloud_id)))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"objects": [{"product": "confluence", "type": "page", "id": "1"}], "reason": "customer lifted the rule"}))
        .send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(w.state("1").await, "restored");
    // An event from before the unblock (delivered late) changes nothing.
    let mut stale = v2_objects_event(&w.tenant.cloud_id, &["1"]);
    stale["time"] = json!((Utc::now() - Duration::hours(1)).to_rfc3339());
    assert_eq!(w.app.post_structured(&w.tenant, &stale).await.status(), 202);
    assert_eq!(w.state("1").await, "restored");
    // A newer one blocks it again, from its own time.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let fresh = v2_objects_event(&w.tenant.cloud_id, &["1"]);
    let mut fresh = fresh;
    fresh["time"] = json!((Utc::now() + Duration::seconds(1)).to_rfc3339());
    assert_eq!(w.app.post_structured(&w.tenant, &fresh).await.status(), 202);
    let status = w.status("1").await;
    assert_eq!(status["state"], "blocked");
    let h = w.history("1").await;
    let transitions: Vec<(String, String)> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "transition")
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_string(),
                e["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        transitions,
        vec![
            ("blocked".to_string(), "hidden".to_string()),
            ("hidden".to_string(), "restored".to_string()),
            ("restored".to_string(), "blocked".to_string()),
        ]
    );
    let unblock = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == "restored")
        .unwrap();
    assert_eq!(unblock["cause"]["actor"], "ops");
    assert_eq!(unblock["cause"]["reason"], "customer lifted the rule");
}

#[tokio::test]
async fn hold_and_keep_are_recorded_and_keep_stops_the_purge() {
    let w = World::new(false).await;
    w.policy("purge", "1d", "required").await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await;
    w.pass_at(Duration::days(2)).await;
    let decision = w.decision_of("1").await;
    assert_eq!(w.act(&decision, "hold").await.status(), 200);
    problem(w.act(&decision, "hold").await, 409).await;
    assert_eq!(w.act(&decision, "keep").await.status(), 200);
    assert_eq!(w.state("1").await, "hidden");
    w.pass_at(Duration::days(30)).await;
    assert_eq!(
        w.state("1").await,
        "hidden",
        "a kept object is never purged"
    );
    let detail: Value = w
        .app
        .client
        .get(w.app.url(&format!("/admin/decisions/{decision}")))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = detail["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["hold", "keep"]);
    assert_eq!(detail["decision"]["state"], "kept");
}

#[tokio::test]
async fn operator_routes_refuse_missing_and_service_tokens_and_bad_input() {
    let w = World::new(false).await;
    let url = w
        .app
        .url(&format!("/admin/sites/{}/policies", w.tenant.cloud_id));
    problem(w.app.client.get(&url).send().await.unwrap(), 401).await;
    problem(
        w.app
            .client
            .get(&url)
            .bearer_auth(SERVICE_TOKEN)
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    for (body, expected) in [
        (
            json!({"policies": [{"product": "confluence", "type": "page", "action": "shred"}]}),
            "retention action",
        ),
        (
            json!({"policies": [{"product": "confluence", "type": "page", "action": "purge", "grace": "soon"}]}),
            "duration",
        ),
        (json!({"policies": []}), "1 to 100"),
    ] {
        let res = w
            .app
            .client
            .put(&url)
            .bearer_auth(OPERATOR_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let p = problem(res, 400).await;
        assert!(p["detail"].as_str().unwrap().contains(expected), "{p}");
    }
    let current: Value = w
        .app
        .client
        .get(&url)
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["default"]["action"], "hide");
    assert_eq!(current["default"]["grace"], "30d");
    problem(w.act("not-a-uuid", "approve").await, 400).await;
    problem(
        w.act(&uuid::Uuid::new_v4().to_string(), "approve").await,
        404,
    )
    .await;
    let res = w
        .app
        .client
        .post(w.app.url(&format!(
            "/admin/decisions/{}/approve",
            uuid::Uuid::new_v4()
        )))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"reason": ""}))
        .send()
        .await
        .unwrap();
    problem(res, 400).await;
}

#[tokio::test]
async fn the_cli_runs_one_pass_with_a_pretend_clock_and_a_dry_run_changes_nothing() {
    let w = World::new(false).await;
    w.block(&["1"]).await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_aarc"))
            .args(args)
            .env("DATABASE_URL", w.app.database_url())
            .env("AARC_VERIFY", "off")
            .output()
            .unwrap()
    };
    let when = (w.t0 + Duration::hours(1)).to_rfc3339();
    let dry = run(&["reconcile", "--once", "--dry-run", "--now", &when]);
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(out.contains("hidden would be 1 object(s)"), "{out}");
    assert_eq!(w.state("1").await, "blocked");
    let real = run(&["reconcile", "--once", "--now", &when]);
    let out = String::from_utf8_lossy(&real.stdout);
    assert!(out.contains("hidden 1 object(s)"), "{out}");
    assert_eq!(w.state("1").await, "hidden");
    let bad = run(&["reconcile", "--once", "--now", "tomorrow"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
}
