//! Diagnosis (contract §4.1): observations classified by the rule table,
//! evidence feeding the block state, and the registration check.

use chrono::Duration;
use serde_json::{json, Value};

use crate::fakes::Answer;
use crate::helpers::*;
use crate::reconciler::World;

fn observation(id: &str, status: u16, message: &str, actor: &str, operation: &str) -> Value {
    json!({"product": "confluence", "type": "page", "id": id, "status": status,
           "message": message, "actor": actor, "operation": operation})
}

async fn observe(w: &World, observations: Vec<Value>) -> reqwest::Response {
    w.app
        .client
        .post(
            w.app
                .url(&format!("/v1/sites/{}/observations", w.tenant.cloud_id)),
        )
        .bearer_auth(SERVICE_TOKEN)
        .json(&json!({ "observations": observations }))
        .send()
        .await
        .unwrap()
}

async fn diagnosis(w: &World, id: &str) -> Value {
    let path = format!(
        "/v1/sites/{}/objects/confluence/page/{id}/diagnosis",
        w.tenant.cloud_id
    );
    w.app.get_ok(&path, SERVICE_TOKEN).await
}

#[tokio::test]
async fn each_rule_classifies_a_realistic_observation_in_order() {
    let w = World::new(false).await;
    let blocked = json!({"product": "confluence", "type": "page", "id": "1", "status": 404,
        "headers": {"Atlassian-DataSecurityPolicy": "app_access_blocked"},
        "message": "Not Found", "actor": "app", "operation": "read"});
    let batch = vec![
        blocked,
        observation("2", 401, "Unauthorized", "app", "read"),
        observation(
            "3",
            403,
            "Current user not permitted to use Confluence",
            "user",
            "read",
        ),
        observation(
            "4",
            403,
            "You must be a site admin to add users to the group",
            "app",
            "admin",
        ),
        observation(
            "5",
            403,
            "User does not have permission to administer space DEV",
            "app",
            "admin",
        ),
        observation("6", 403, "Forbidden", "user", "admin"),
        observation("7", 403, "Content is restricted", "app", "read"),
        observation("8", 404, "No content found with id: 8", "user", "read"),
        observation("9", 403, "", "app", "read"),
        observation("10", 200, "", "app", "read"),
        observation("11", 502, "Bad Gateway", "app", "read"),
    ];
    let res = observe(&w, batch).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let got: Vec<(&str, &str)> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["verdict"].as_str().unwrap(), r["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("blocked_by_policy", "policy-header"),
            ("installation_unauthorized", "installation-unauthorized"),
            ("user_lacks_product_access", "user-lacks-product-access"),
            ("missing_admin_permission", "site-admin-required"),
            ("missing_admin_permission", "space-admin-required"),
            ("missing_admin_permission", "admin-permission-required"),
            ("app_user_restricted", "app-user-restricted"),
            ("not_found", "content-not-found"),
            ("app_user_restricted", "app-forbidden"),
            ("accessible", "accessible"),
            ("unknown", "unknown"),
        ]
    );
    assert!(body["results"][2]["advice"]
        .as_str()
        .unwrap()
        .contains("access to this product"));
    let d = diagnosis(&w, "3").await;
    assert_eq!(d["verdict"], "user_lacks_product_access");
    assert_eq!(d["evidence"].as_array().unwrap().len(), 1);
    assert!(d["since"].is_string());
}

#[tokio::test]
async fn a_policy_header_blocks_an_object_no_event_mentioned() {
    let w = World::new(false).await;
    assert_eq!(w.state("42").await, "clear");
    let res = observe(
        &w,
        vec![
            json!({"product": "confluence", "type": "page", "id": "42", "status": 404,
            "headers": {"atlassian-datasecuritypolicy": "app_access_blocked"},
            "actor": "app", "operation": "read", "observed_at": w.t0.to_rfc3339()}),
        ],
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["blocked"], 1);
    assert_eq!(w.state("42").await, "blocked");
    let d = diagnosis(&w, "42").await;
    assert_eq!(d["verdict"], "blocked_by_policy");
    assert_eq!(d["rule"], "block-state");
    let kinds: Vec<&str> = d["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"observation") && kinds.contains(&"event"),
        "{d}"
    );
    // The history shows the block's cause and the observation.
    let history = w.history("42").await;
    let entries = history["history"].as_array().unwrap();
    assert!(entries
        .iter()
        .any(|e| e["kind"] == "event" && e["mode"] == "observation"));
    let seen = entries
        .iter()
        .find(|e| e["kind"] == "observation")
        .expect("the observation is in the history");
    assert_eq!(seen["observation"]["effect"], "blocked");
    // The block then lives its normal life: the reconciler hides it.
    w.pass_at(Duration::minutes(1)).await;
    assert_eq!(w.state("42").await, "hidden");
}

#[tokio::test]
async fn a_successful_read_of_a_blocked_object_leads_to_restored_at_the_next_pass() {
    let w = World::new(true).await;
    w.block(&["7"]).await;
    w.pass_at(Duration::zero()).await; // verifies (still blocked) and hides
    assert_eq!(w.state("7").await, "hidden");
    // Without evidence the next verification would wait a day.
    w.atlassian
        .set_default(Answer::json(200, json!({"anyContentBlocked": false})));
    let report = w.pass_at(Duration::hours(1)).await;
    assert_eq!(w.state("7").await, "hidden", "{report}");

    let res = observe(&w, vec![observation("7", 200, "", "app", "read")]).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["verification_requested"], json!(["confluence"]));
    let d = diagnosis(&w, "7").await;
    assert_eq!(d["verdict"], "accessible");
    assert!(d["advice"]
        .as_str()
        .unwrap()
        .contains("next reconciler pass"));

    let report = w.pass_at(Duration::hours(2)).await;
    assert_eq!(w.state("7").await, "restored", "{report}");
    let history = w.history("7").await;
    let entries = history["history"].as_array().unwrap();
    let seen = entries.iter().find(|e| e["kind"] == "observation").unwrap();
    assert_eq!(seen["observation"]["effect"], "verification_requested");
    assert!(entries
        .iter()
        .any(|e| e["to"] == "restored" && e["cause"]["cause"] == "verification"));
}

#[tokio::test]
async fn a_thousand_observations_are_classified_in_order_and_bad_ones_refused() {
    let w = World::new(false).await;
    let batch: Vec<Value> = (0..1000)
        .map(|i| {
            let status = if i % 2 == 0 { 200 } else { 404 };
            observation(&i.to_string(), status, "", "user", "read")
        })
        .collect();
    let res = observe(&w, batch).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    for (i, r) in results.iter().enumerate() {
        let want = if i % 2 == 0 {
            "accessible"
        } else {
            "not_found"
        };
        assert_eq!(r["verdict"], want, "result {i}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM observations")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1000);

    let too_many: Vec<Value> = (0..1001)
        .map(|i| observation(&i.to_string(), 200, "", "app", "read"))
        .collect();
    for (batch, detail) in [
        (vec![], "1 to 1000"),
        (too_many, "1 to 1000"),
        (
            vec![observation("1", 200, "", "robot", "read")],
            "observations[0]: actor",
        ),
        (
            vec![observation("1", 200, "", "app", "delete")],
            "operation",
        ),
        (
            vec![observation("1", 42, "", "app", "read")],
            "not an HTTP status",
        ),
        (
            vec![observation("1", 403, "denied\u{0}", "app", "read")],
            "message contains the character U+0000",
        ),
    ] {
        let p = problem(observe(&w, batch).await, 400).await;
        assert!(p["detail"].as_str().unwrap().contains(detail), "{p}");
    }
    let unknown_site = w
        .app
        .client
        .post(w.app.url("/v1/sites/no-such-site/observations"))
        .bearer_auth(SERVICE_TOKEN)
        .json(&json!({"observations": [observation("1", 200, "", "app", "read")]}))
        .send()
        .await
        .unwrap();
    problem(unknown_site, 404).await;
    let stored_after: i64 = sqlx::query_scalar("SELECT count(*) FROM observations")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    assert_eq!(stored_after, 1000, "refused batches store nothing");
}

async fn summary(w: &World) -> Value {
    let path = format!("/v1/sites/{}/summary", w.tenant.cloud_id);
    w.app.get_ok(&path, SERVICE_TOKEN).await
}

#[tokio::test]
async fn registration_asks_whether_content_was_blocked_before_installation() {
    // World registers its Connect tenant through PUT /admin/tenants; the fake
    // Atlassian answers anyContentBlocked: true.
    let w = World::new(true).await;
    let mut s = summary(&w).await;
    for _ in 0..100 {
        if s["registrationCheck"]
            .as_array()
            .is_some_and(|c| c.len() == 2)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        s = summary(&w).await;
    }
    assert_eq!(s["blocksBeforeInstallationMayBeUnknown"], true, "{s}");
    assert_eq!(s["registrationCheck"][0]["product"], "confluence");
    assert_eq!(s["registrationCheck"][0]["anyContentBlocked"], true);
    let asked_at_registration = w
        .atlassian
        .recorded()
        .iter()
        .filter(|r| r.path.contains("data-polic"))
        .count();
    assert_eq!(asked_at_registration, 2, "confluence and jira, once each");
    // Asked once: passes do not ask again.
    let again = w.pass_at(Duration::minutes(5)).await;
    assert!(again.registration_checks.is_empty(), "{again}");
}

#[tokio::test]
async fn a_tenant_the_pass_has_not_checked_yet_is_checked_by_the_pass() {
    let w = World::new(true).await;
    // A tenant registered without the HTTP route (e.g. the CLI): no check yet.
    let other = ConnectTenant::new();
    sqlx::query(
        "INSERT INTO tenants (id, kind, tenant_key, cloud_id, base_url, shared_secret)
         VALUES ($1, 'connect', $2, $3, $4, $5)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(&other.client_key)
    .bind(&other.cloud_id)
    .bind(&w.atlassian.url)
    .bind(&other.secret)
    .execute(&w.app.pool)
    .await
    .unwrap();
    let report = w.pass_at(Duration::zero()).await;
    assert!(
        report
            .registration_checks
            .iter()
            .any(|c| c.starts_with(&other.cloud_id) && c.contains("anyContentBlocked=true")),
        "{report}"
    );
}

#[tokio::test]
async fn a_forge_tenant_is_checked_when_its_first_token_registers_it() {
    let app = spawn_app().await;
    let atlassian =
        crate::fakes::FakeServer::start(Answer::json(200, json!({"anyContentBlocked": true})));
    let (installation, cloud_id) = new_forge_installation();
    let mut claims = fit_claims(&installation, &cloud_id);
    claims["app"]["apiBaseUrl"] = json!(atlassian.url);
    let token = crate::auth_forge::system_token(chrono::Utc::now().timestamp() + 1800);
    let res = app
        .client
        .post(app.url(WEBHOOK))
        .bearer_auth(sign_fit(&claims, 1))
        .header("x-forge-oauth-system", &token)
        .header("content-type", "application/json")
        .body(v2_objects_event(&cloud_id, &["1"]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let path = format!("/v1/sites/{cloud_id}/summary");
    let mut s = Value::Null;
    for _ in 0..100 {
        s = app.get_ok(&path, SERVICE_TOKEN).await;
        if s["registrationCheck"]
            .as_array()
            .is_some_and(|c| c.len() == 2)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(s["blocksBeforeInstallationMayBeUnknown"], true, "{s}");
    let asked = atlassian.recorded();
    assert!(
        asked
            .iter()
            .all(|r| r.headers["authorization"] == format!("Bearer {token}")),
        "the app system token is used"
    );
}
