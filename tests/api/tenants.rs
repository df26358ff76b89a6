//! Tenants through `PUT /admin/tenants/{clientKey}` and `aarc tenants …`.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn put_creates_then_updates_and_never_returns_the_secret() {
    let app = spawn_app().await;
    let t = ConnectTenant::new();
    let put = |secret: &str| {
        app.client
            .put(app.url(&format!("/admin/tenants/{}", t.client_key)))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"sharedSecret": secret, "baseUrl": t.base_url, "cloudId": t.cloud_id}))
            .send()
    };
    let res = put(&t.secret).await.unwrap();
    assert_eq!(res.status(), 201);
    let body = res.text().await.unwrap();
    assert!(!body.contains(&t.secret));
    let rotated = "a-rotated-shared-secret";
    assert_eq!(put(rotated).await.unwrap().status(), 200);
    // The new secret is the one that verifies now.
    let old = app
        .post_structured(&t, &v2_objects_event(&t.cloud_id, &["1"]))
        .await;
    problem(old, 401).await;
    let list = app
        .client
        .get(app.url("/admin/tenants"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains(&t.client_key) && !list.contains(rotated) && !list.contains(&t.secret));
}

#[tokio::test]
async fn put_requires_an_operator_token() {
    let app = spawn_app().await;
    let t = ConnectTenant::new();
    let body = json!({"sharedSecret": t.secret, "baseUrl": t.base_url, "cloudId": t.cloud_id});
    let url = app.url(&format!("/admin/tenants/{}", t.client_key));
    problem(app.client.put(&url).json(&body).send().await.unwrap(), 401).await;
    let res = app
        .client
        .put(&url)
        .bearer_auth(SERVICE_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(res, 403).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn put_refuses_bad_fields_with_a_precise_detail() {
    let app = spawn_app().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"sharedSecret": "short", "baseUrl": "https://a.atlassian.net", "cloudId": "c1"}),
            "sharedSecret",
        ),
        (
            json!({"sharedSecret": "long-enough-secret", "baseUrl": "ftp://a", "cloudId": "c1"}),
            "baseUrl",
        ),
        (
            json!({"sharedSecret": "long-enough-secret", "baseUrl": "https://a.atlassian.net", "cloudId": "a b"}),
            "cloudId",
        ),
        (
            json!({"sharedSecret": "long-enough-secret", "baseUrl": "https://a.atlassian.net"}),
            "cloudId",
        ),
        (
            json!({"sharedSecret": "long-enough-secret", "baseUrl": "https://a.atlassian.net", "cloudId": "c1", "clientKey": "other"}),
            "clientKey",
        ),
    ];
    for (body, expected) in cases {
        let res = app
            .client
            .put(app.url("/admin/tenants/k1"))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let p = problem(res, 400).await;
        assert!(p["detail"].as_str().unwrap().contains(expected), "{p}");
    }
}

fn aarc(db_url: &str, args: &[&str]) -> std::process::Output {
    crate::load::aarc_cli(db_url, args, &[("AARC_LOG_FORMAT", "json")])
}

#[tokio::test]
async fn the_cli_adds_lists_and_removes_tenants_without_printing_secrets() {
    let db_url = fresh_database().await;
    let secret = "cli-secret-never-printed";
    let add = aarc(
        &db_url,
        &[
            "tenants",
            "add",
            "--client-key",
            "cli-key",
            "--shared-secret",
            secret,
            "--base-url",
            "https://cli.atlassian.net",
            "--cloud-id",
            "11111111-2222-3333-4444-555555555555",
        ],
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let list = aarc(&db_url, &["tenants", "list"]);
    let out = String::from_utf8_lossy(&list.stdout);
    assert!(
        out.contains("cli-key") && out.contains("installed"),
        "{out}"
    );
    let json_list = aarc(&db_url, &["tenants", "list", "--json"]);
    let rows: Value = serde_json::from_slice(&json_list.stdout).unwrap();
    assert_eq!(rows[0]["key"], "cli-key");
    let remove = aarc(&db_url, &["tenants", "remove", "cli-key"]);
    assert!(remove.status.success());
    let out = String::from_utf8_lossy(&aarc(&db_url, &["tenants", "list"]).stdout).to_string();
    assert!(out.contains("removed"), "{out}");
    for o in [&add, &list, &json_list, &remove] {
        assert!(!String::from_utf8_lossy(&o.stdout).contains(secret));
        assert!(!String::from_utf8_lossy(&o.stderr).contains(secret));
    }
    let missing = aarc(&db_url, &["tenants", "remove", "no-such-key"]);
    assert!(!missing.status.success());
    let bad = aarc(
        &db_url,
        &[
            "tenants",
            "add",
            "--client-key",
            "k",
            "--shared-secret",
            "s",
            "--base-url",
            "https://x.atlassian.net",
            "--cloud-id",
            "c",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("sharedSecret"));
}
