//! Connect webhook JWTs: HS256, iss → tenant, exp, qsh over the request.

use crate::helpers::*;

async fn post_with(
    app: &TestApp,
    t: &ConnectTenant,
    auth: Option<String>,
    query: &str,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(format!("{}{WEBHOOK}{query}", app.address))
        .header("Content-Type", "application/cloudevents+json")
        .body(v2_objects_event(&t.cloud_id, &["1"]).to_string());
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    req.send().await.unwrap()
}

async fn refused(
    app: &TestApp,
    t: &ConnectTenant,
    auth: Option<String>,
    query: &str,
    expected: &str,
) {
    let p = problem(post_with(app, t, auth, query).await, 401).await;
    assert!(p["detail"].as_str().unwrap().contains(expected), "{p}");
    assert_eq!(app.inbox_count(&t.cloud_id).await, 0);
}

#[tokio::test]
async fn a_token_in_the_header_or_the_jwt_query_parameter_is_accepted() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    assert_eq!(
        post_with(&app, &t, Some(format!("JWT {}", t.jwt(""))), "")
            .await
            .status(),
        202
    );
    // In the query the token signs the other parameters, never itself.
    let token = t.jwt("foo=bar%20baz");
    let res = post_with(&app, &t, None, &format!("?foo=bar%20baz&jwt={token}")).await;
    assert_eq!(res.status(), 202);
    assert_eq!(app.inbox_count(&t.cloud_id).await, 2);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let token = connect_jwt(&t.client_key, &t.secret, "POST", WEBHOOK, "", -120, None);
    refused(&app, &t, Some(format!("JWT {token}")), "", "expired").await;
}

#[tokio::test]
async fn a_token_expired_within_the_leeway_is_still_accepted() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let token = connect_jwt(&t.client_key, &t.secret, "POST", WEBHOOK, "", -30, None);
    assert_eq!(
        post_with(&app, &t, Some(format!("JWT {token}")), "")
            .await
            .status(),
        202
    );
}

#[tokio::test]
async fn a_wrong_qsh_or_a_context_qsh_is_refused() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let other_path = connect_jwt(
        &t.client_key,
        &t.secret,
        "POST",
        "/somewhere/else",
        "",
        60,
        None,
    );
    refused(
        &app,
        &t,
        Some(format!("JWT {other_path}")),
        "",
        "qsh does not match",
    )
    .await;
    let other_query = t.jwt("a=1");
    refused(
        &app,
        &t,
        Some(format!("JWT {other_query}")),
        "?a=2",
        "qsh does not match",
    )
    .await;
    let context = connect_jwt(
        &t.client_key,
        &t.secret,
        "POST",
        WEBHOOK,
        "",
        60,
        Some("context-qsh"),
    );
    refused(&app, &t, Some(format!("JWT {context}")), "", "context-qsh").await;
}

#[tokio::test]
async fn forged_signatures_and_unknown_issuers_are_refused() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let forged = connect_jwt(
        &t.client_key,
        "not-the-shared-secret",
        "POST",
        WEBHOOK,
        "",
        60,
        None,
    );
    refused(&app, &t, Some(format!("JWT {forged}")), "", "signature").await;
    let stranger = connect_jwt("nobody-we-know", &t.secret, "POST", WEBHOOK, "", 60, None);
    refused(
        &app,
        &t,
        Some(format!("JWT {stranger}")),
        "",
        "not a known tenant",
    )
    .await;
    refused(&app, &t, Some("JWT not.a.token".into()), "", "Connect JWT").await;
    refused(
        &app,
        &t,
        Some("Basic dXNlcjpwYXNz".into()),
        "",
        "Authorization header",
    )
    .await;
}

#[tokio::test]
async fn a_removed_tenant_can_no_longer_send_events() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let res = app
        .client
        .delete(app.url(&format!("/admin/tenants/{}", t.client_key)))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    refused(&app, &t, Some(format!("JWT {}", t.jwt(""))), "", "removed").await;
}

#[tokio::test]
async fn a_connect_tenant_cannot_send_forge_lifecycle_events() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let uninstall = serde_json::json!({
        "eventType": "avi:forge:uninstalled:app",
        "id": "a-forged-uninstall",
        "context": {"cloudId": t.cloud_id},
    });
    let res = app
        .post_body(&t, "application/json", uninstall.to_string())
        .await;
    let p = problem(res, 403).await;
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains("accepted only with a Forge Invocation Token"));
    assert_eq!(app.inbox_count(&t.cloud_id).await, 0);
    // The tenant is still installed: its events are accepted.
    let ok = app
        .post_structured(&t, &v2_objects_event(&t.cloud_id, &["1"]))
        .await;
    assert_eq!(ok.status(), 202);
}
