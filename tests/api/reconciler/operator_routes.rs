//! The operator routes and the CLI pass.

use super::*;

#[tokio::test]
async fn operator_routes_refuse_missing_and_service_tokens_and_bad_input() {
    let w = World::new(false).await;
    let path = format!("/admin/sites/{}/policies", w.tenant.cloud_id);
    let url = w.app.url(&path);
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
    let current = w.app.get_ok(&path, OPERATOR_TOKEN).await;
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
    let db_url = w.app.database_url();
    let run = |args: &[&str]| crate::load::aarc_cli(&db_url, args, &[("AARC_VERIFY", "off")]);
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
