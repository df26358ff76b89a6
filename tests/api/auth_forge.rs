//! Forge Invocation Tokens: RS256 against the (fake) Forge key set.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use crate::helpers::*;

async fn post_fit(
    app: &TestApp,
    fit: &str,
    body: &Value,
    system_token: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(WEBHOOK))
        .bearer_auth(fit)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(t) = system_token {
        req = req.header("x-forge-oauth-system", t);
    }
    req.send().await.unwrap()
}

async fn forge_tenant(
    app: &TestApp,
    installation: &str,
) -> Option<(
    String,
    bool,
    Option<String>,
    Option<chrono::DateTime<chrono::Utc>>,
)> {
    sqlx::query_as(
        "SELECT cloud_id, installed, system_token, system_token_expires_at FROM tenants
         WHERE kind = 'forge' AND tenant_key = $1",
    )
    .bind(installation)
    .fetch_optional(&app.pool)
    .await
    .unwrap()
}

/// An app system token shaped like the real ones (a JWT) expiring at `exp`.
pub fn system_token(exp: i64) -> String {
    use base64::Engine;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig",
        b64(json!({"alg": "RS256"})),
        b64(json!({"exp": exp, "sub": "app"}))
    )
}

#[tokio::test]
async fn a_verified_token_registers_the_installation_and_applies_its_event() {
    let app = spawn_app().await;
    let (installation, cloud_id) = new_forge_installation();
    let fit = sign_fit(&fit_claims(&installation, &cloud_id), 1);
    let exp = chrono::Utc::now().timestamp() + 900;
    let res = post_fit(
        &app,
        &fit,
        &v2_objects_event(&cloud_id, &["1", "2"]),
        Some(&system_token(exp)),
    )
    .await;
    assert_eq!(res.status(), 202);
    let (site, installed, token, expires) = forge_tenant(&app, &installation).await.unwrap();
    assert_eq!(site, cloud_id);
    assert!(installed);
    assert_eq!(token.unwrap(), system_token(exp));
    assert_eq!(expires.unwrap().timestamp(), exp);
    assert_eq!(app.blocked_count(&cloud_id).await, 2);
}

#[tokio::test]
async fn the_newest_system_token_is_kept() {
    let app = spawn_app().await;
    let (installation, cloud_id) = new_forge_installation();
    let now = chrono::Utc::now().timestamp();
    let (newer, older) = (system_token(now + 3600), system_token(now + 600));
    for (token, ids) in [(&newer, ["1"]), (&older, ["2"])] {
        let fit = sign_fit(&fit_claims(&installation, &cloud_id), 1);
        let res = post_fit(&app, &fit, &v2_objects_event(&cloud_id, &ids), Some(token)).await;
        assert_eq!(res.status(), 202);
    }
    let (_, _, token, _) = forge_tenant(&app, &installation).await.unwrap();
    assert_eq!(
        token.unwrap(),
        newer,
        "a token expiring sooner does not replace a later one"
    );
}

#[tokio::test]
async fn cloud_id_falls_back_to_the_api_base_url() {
    let app = spawn_app().await;
    let (installation, cloud_id) = new_forge_installation();
    let mut claims = fit_claims(&installation, &cloud_id);
    claims["app"]
        .as_object_mut()
        .unwrap()
        .remove("installation");
    claims.as_object_mut().unwrap().remove("context");
    let res = post_fit(
        &app,
        &sign_fit(&claims, 1),
        &v2_objects_event(&cloud_id, &["1"]),
        None,
    )
    .await;
    assert_eq!(res.status(), 202);
    assert_eq!(forge_tenant(&app, &installation).await.unwrap().0, cloud_id);
}

#[tokio::test]
async fn bad_tokens_are_refused_and_register_nothing() {
    let app = spawn_app().await;
    let (installation, cloud_id) = new_forge_installation();
    let now = chrono::Utc::now().timestamp();
    let mut expired = fit_claims(&installation, &cloud_id);
    expired["exp"] = json!(now - 120);
    let mut not_yet = fit_claims(&installation, &cloud_id);
    not_yet["nbf"] = json!(now + 600);
    let mut wrong_aud = fit_claims(&installation, &cloud_id);
    wrong_aud["aud"] = json!("ari:cloud:ecosystem::app/11111111-2222-3333-4444-555555555555");
    let mut wrong_app = fit_claims(&installation, &cloud_id);
    wrong_app["app"]["id"] = json!("ari:cloud:ecosystem::app/11111111-2222-3333-4444-555555555555");
    let mut wrong_iss = fit_claims(&installation, &cloud_id);
    wrong_iss["iss"] = json!("someone/else");
    let good = sign_fit(&fit_claims(&installation, &cloud_id), 1);
    let mut tampered: Vec<&str> = good.split('.').collect();
    let other_payload = sign_fit(
        &fit_claims(&installation, &uuid::Uuid::new_v4().to_string()),
        1,
    );
    let payload = other_payload.split('.').nth(1).unwrap().to_string();
    tampered[1] = &payload;
    let cases = vec![
        (sign_fit(&expired, 1), "expired"),
        (sign_fit(&not_yet, 1), "not valid yet"),
        (sign_fit(&wrong_aud, 1), "aud"),
        (sign_fit(&wrong_app, 1), "app.id"),
        (sign_fit(&wrong_iss, 1), "iss"),
        (tampered.join("."), "signature"),
        ("garbage".to_string(), "not a JWT"),
    ];
    for (token, expected) in cases {
        let p = problem(
            post_fit(&app, &token, &v2_objects_event(&cloud_id, &["1"]), None).await,
            401,
        )
        .await;
        assert!(
            p["detail"].as_str().unwrap().contains(expected),
            "{expected}: {p}"
        );
    }
    assert!(forge_tenant(&app, &installation).await.is_none());
    assert_eq!(app.inbox_count(&cloud_id).await, 0);
}

#[tokio::test]
async fn a_new_key_id_makes_aarc_fetch_the_key_set_again() {
    let app = spawn_app().await;
    let (installation, cloud_id) = new_forge_installation();
    let claims = fit_claims(&installation, &cloud_id);
    assert_eq!(
        post_fit(
            &app,
            &sign_fit(&claims, 1),
            &v2_objects_event(&cloud_id, &["1"]),
            None
        )
        .await
        .status(),
        202
    );
    assert_eq!(
        post_fit(
            &app,
            &sign_fit(&claims, 1),
            &v2_objects_event(&cloud_id, &["2"]),
            None
        )
        .await
        .status(),
        202
    );
    assert_eq!(
        app.jwks.fetches.load(Ordering::SeqCst),
        1,
        "known keys are served from the cache"
    );
    // Forge rotates: key 2 appears; a token signed with it triggers a refetch.
    problem(
        post_fit(
            &app,
            &sign_fit(&claims, 2),
            &v2_objects_event(&cloud_id, &["3"]),
            None,
        )
        .await,
        401,
    )
    .await;
    app.jwks.keys.lock().unwrap().push(test_jwk(2));
    assert_eq!(
        post_fit(
            &app,
            &sign_fit(&claims, 2),
            &v2_objects_event(&cloud_id, &["4"]),
            None
        )
        .await
        .status(),
        202
    );
    assert_eq!(app.blocked_count(&cloud_id).await, 3);
}

#[tokio::test]
async fn unknown_key_ids_do_not_hammer_the_key_server() {
    let app =
        spawn_app_with(|c| c.jwks_refetch_cooldown = std::time::Duration::from_secs(3600)).await;
    let (installation, cloud_id) = new_forge_installation();
    let claims = fit_claims(&installation, &cloud_id);
    for _ in 0..5 {
        problem(
            post_fit(
                &app,
                &sign_fit(&claims, 2),
                &v2_objects_event(&cloud_id, &["1"]),
                None,
            )
            .await,
            401,
        )
        .await;
    }
    assert_eq!(app.jwks.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn forge_tokens_are_refused_when_no_app_is_configured() {
    let app = spawn_app_with(|c| c.forge_app_ids.clear()).await;
    let (installation, cloud_id) = new_forge_installation();
    let fit = sign_fit(&fit_claims(&installation, &cloud_id), 1);
    let p = problem(
        post_fit(&app, &fit, &v2_objects_event(&cloud_id, &["1"]), None).await,
        401,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("AARC_FORGE_APP_IDS"));
}

#[tokio::test]
async fn a_forge_installation_cannot_write_to_another_site() {
    let app = spawn_app().await;
    let (installation, cloud_id) = new_forge_installation();
    let fit = sign_fit(&fit_claims(&installation, &cloud_id), 1);
    let elsewhere = uuid::Uuid::new_v4().to_string();
    problem(
        post_fit(&app, &fit, &v2_objects_event(&elsewhere, &["1"]), None).await,
        403,
    )
    .await;
    assert!(
        forge_tenant(&app, &installation).await.is_none(),
        "a refused request registers nothing"
    );
}

#[tokio::test]
async fn lifecycle_events_register_and_retire_the_installation() {
    let app = spawn_app().await;
    let (installation, cloud_id) = new_forge_installation();
    let lifecycle = |kind: &str| {
        json!({"event": {"eventType": format!("avi:forge:{kind}:app"), "id": uuid::Uuid::new_v4().to_string(),
                         "app": {"id": format!("ari:cloud:ecosystem::app/{FORGE_APP_ID}")}},
               "context": {"cloudId": cloud_id}})
    };
    let fit = || sign_fit(&fit_claims(&installation, &cloud_id), 1);
    assert_eq!(
        post_fit(&app, &fit(), &lifecycle("installed"), None)
            .await
            .status(),
        202
    );
    assert!(forge_tenant(&app, &installation).await.unwrap().1);
    assert_eq!(
        post_fit(&app, &fit(), &lifecycle("uninstalled"), None)
            .await
            .status(),
        202
    );
    assert!(!forge_tenant(&app, &installation).await.unwrap().1);
    let p = problem(
        post_fit(&app, &fit(), &v2_objects_event(&cloud_id, &["1"]), None).await,
        401,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("uninstalled"));
    assert_eq!(
        post_fit(&app, &fit(), &lifecycle("installed"), None)
            .await
            .status(),
        202
    );
    assert_eq!(
        post_fit(&app, &fit(), &v2_objects_event(&cloud_id, &["1"]), None)
            .await
            .status(),
        202
    );
    let types: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM inbox_events WHERE cloud_id = $1 ORDER BY id")
            .bind(&cloud_id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(types.len(), 4);
}

#[tokio::test]
async fn the_scheduled_route_records_the_installation_and_its_token() {
    let app = spawn_app().await;
    let (installation, cloud_id) = new_forge_installation();
    let exp = chrono::Utc::now().timestamp() + 1800;
    let res = app
        .client
        .post(app.url("/forge/scheduled"))
        .bearer_auth(sign_fit(&fit_claims(&installation, &cloud_id), 1))
        .header("x-forge-oauth-system", system_token(exp))
        .body("{\"anything\": true}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({}));
    let (_, _, token, _) = forge_tenant(&app, &installation).await.unwrap();
    assert_eq!(token.unwrap(), system_token(exp));
    let t = app.connect_tenant().await;
    let res = app
        .client
        .post(app.url("/forge/scheduled"))
        .header("Authorization", format!("JWT {}", t.jwt("")))
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
}
