//! Operators outside the web page: Connect lifecycle routes, the
//! `aarc decisions` CLI, token levels, and the append-only audit log.

use chrono::Duration;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::reconciler::World;

/// A world with one pending purge decision over objects "1" and "2".
pub async fn world_with_pending_decision() -> (World, String) {
    let w = World::new(false).await;
    w.policy("purge", "1d", "required").await;
    w.block(&["1", "2"]).await;
    w.pass_at(Duration::zero()).await;
    w.pass_at(Duration::days(2)).await;
    let decision = w.decision_of("1").await;
    assert_eq!(w.state("1").await, "pending_review");
    (w, decision)
}

fn cli(w: &World, args: &[&str]) -> std::process::Output {
    crate::load::aarc_cli(&w.app.database_url(), args, &[("USER", "casey")])
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[tokio::test]
async fn the_cli_lists_shows_and_acts_on_decisions_with_an_audit_trail() {
    let (w, decision) = world_with_pending_decision().await;

    let table = cli(&w, &["decisions", "list", "--state", "pending_review"]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(
        text.contains("pending_review") && text.contains(&decision),
        "{text}"
    );

    let listed: Value =
        serde_json::from_str(&stdout(&cli(&w, &["decisions", "list", "--json"]))).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], decision.as_str());
    assert_eq!(listed[0]["object_count"], 2);

    let shown: Value = serde_json::from_str(&stdout(&cli(
        &w,
        &["decisions", "show", &decision, "--json"],
    )))
    .unwrap();
    let ids: Vec<&str> = shown["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["1", "2"]);
    assert_eq!(
        shown["objects"][0]["event_ids"].as_array().unwrap().len(),
        1
    );

    let held = cli(
        &w,
        &[
            "decisions",
            "hold",
            &decision,
            "--reason",
            "asking the customer",
        ],
    );
    assert!(held.status.success(), "{}", stderr(&held));
    assert!(stdout(&held).contains("is now held (by cli:casey)"));

    let approved = cli(
        &w,
        &[
            "decisions",
            "approve",
            &decision,
            "--reason",
            "customer agreed",
            "--json",
        ],
    );
    assert!(approved.status.success(), "{}", stderr(&approved));
    let view: Value = serde_json::from_str(&stdout(&approved)).unwrap();
    assert_eq!(view["state"], "purging");
    assert_eq!(w.state("1").await, "purging");

    // No longer pending: refused, nothing changes.
    let again = cli(
        &w,
        &[
            "decisions",
            "keep",
            &decision,
            "--reason",
            "changed my mind",
        ],
    );
    assert!(!again.status.success());
    assert!(stderr(&again).contains("is purging"), "{}", stderr(&again));
    assert_eq!(w.state("1").await, "purging");

    let shown: Value = serde_json::from_str(&stdout(&cli(
        &w,
        &["decisions", "show", &decision, "--json"],
    )))
    .unwrap();
    let audit: Vec<(String, String, String)> = shown["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["actor"].as_str().unwrap().into(),
                a["action"].as_str().unwrap().into(),
                a["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        audit,
        vec![
            (
                "cli:casey".into(),
                "hold".into(),
                "asking the customer".into()
            ),
            (
                "cli:casey".into(),
                "approve".into(),
                "customer agreed".into()
            ),
        ]
    );

    // The operator's action appears in the object's history too.
    let history = w.history("1").await;
    let purging = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["to"] == "purging")
        .expect("a transition to purging");
    assert_eq!(purging["cause"]["actor"], "cli:casey");
    assert_eq!(purging["cause"]["reason"], "customer agreed");
}

#[tokio::test]
async fn the_cli_refuses_bad_input_with_a_clear_message() {
    let (w, decision) = world_with_pending_decision().await;
    let bad_id = cli(&w, &["decisions", "show", "nope"]);
    assert!(!bad_id.status.success());
    assert!(stderr(&bad_id).contains("not a decision id"));
    let unknown = cli(
        &w,
        &[
            "decisions",
            "approve",
            &uuid::Uuid::new_v4().to_string(),
            "--reason",
            "x",
        ],
    );
    assert!(stderr(&unknown).contains("no decision"));
    let blank = cli(&w, &["decisions", "approve", &decision, "--reason", "  "]);
    assert!(!blank.status.success());
    assert!(stderr(&blank).contains("reason"));
    let state = cli(&w, &["decisions", "list", "--state", "maybe"]);
    assert!(stderr(&state).contains("is not one of"));
    assert_eq!(w.state("1").await, "pending_review");
}

#[tokio::test]
async fn operator_routes_give_401_without_a_token_and_403_to_service_tokens() {
    let (w, decision) = world_with_pending_decision().await;
    let url = w.app.url(&format!("/admin/decisions/{decision}/approve"));
    let body = json!({"reason": "because"});
    let none = w.app.client.post(&url).json(&body).send().await.unwrap();
    problem(none, 401).await;
    let service = w
        .app
        .client
        .post(&url)
        .bearer_auth(SERVICE_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let p = problem(service, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("service token"));
    let wrong = w
        .app
        .client
        .get(w.app.url("/admin/decisions"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    problem(wrong, 401).await;
    assert_eq!(w.state("1").await, "pending_review");
    // Approving twice: the second is refused with 409 and changes nothing.
    assert_eq!(w.act(&decision, "approve").await.status(), 200);
    let p = problem(w.act(&decision, "approve").await, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("is purging"), "{p}");
}

#[tokio::test]
async fn the_audit_log_cannot_be_edited_or_deleted() {
    let (w, decision) = world_with_pending_decision().await;
    assert_eq!(w.act(&decision, "hold").await.status(), 200);
    for statement in [
        "UPDATE audit_log SET reason = 'rewritten'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::query(statement)
            .execute(&w.app.pool)
            .await
            .expect_err(statement);
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE reason LIKE 'hold%'")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn connect_lifecycle_installs_and_uninstalls_a_tenant() {
    let app = spawn_app().await;
    let t = ConnectTenant::new();
    let payload = json!({
        "key": "com.example.app", "clientKey": t.client_key, "sharedSecret": t.secret,
        "baseUrl": t.base_url, "cloudId": t.cloud_id, "productType": "confluence",
        "eventType": "installed", "description": "Atlassian Confluence at …",
    });
    let post = |path: &str, token: Option<&str>, body: &Value| {
        let mut req = app.client.post(app.url(path)).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    problem(
        post("/lifecycle/installed", None, &payload).await.unwrap(),
        401,
    )
    .await;
    problem(
        post("/lifecycle/installed", Some(SERVICE_TOKEN), &payload)
            .await
            .unwrap(),
        403,
    )
    .await;
    let mut missing = payload.clone();
    missing.as_object_mut().unwrap().remove("sharedSecret");
    let p = problem(
        post("/lifecycle/installed", Some(OPERATOR_TOKEN), &missing)
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("sharedSecret"),
        "{p}"
    );
    let p = problem(
        post("/lifecycle/uninstalled", Some(OPERATOR_TOKEN), &payload)
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("eventType"), "{p}");

    let res = post("/lifecycle/installed", Some(OPERATOR_TOKEN), &payload)
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = post("/lifecycle/installed", Some(OPERATOR_TOKEN), &payload)
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "installed again is an update");
    let event = v2_objects_event(&t.cloud_id, &["7"]);
    assert_eq!(app.post_structured(&t, &event).await.status(), 202);

    let uninstall = json!({"key": "com.example.app", "clientKey": t.client_key,
                           "baseUrl": t.base_url, "eventType": "uninstalled"});
    let res = post("/lifecycle/uninstalled", Some(OPERATOR_TOKEN), &uninstall)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let later = v2_objects_event(&t.cloud_id, &["8"]);
    problem(app.post_structured(&t, &later).await, 401).await;
    // Records are kept: the object blocked before uninstalling is still known.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM blocked_objects WHERE cloud_id = $1")
        .bind(&t.cloud_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let unknown = json!({"clientKey": "nobody", "eventType": "uninstalled"});
    problem(
        post("/lifecycle/uninstalled", Some(OPERATOR_TOKEN), &unknown)
            .await
            .unwrap(),
        404,
    )
    .await;
}
