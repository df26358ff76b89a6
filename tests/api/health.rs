use crate::helpers::*;

fn database_down(c: &mut aarc::config::Config) {
    // Nothing listens on port 1: every connection attempt is refused at once.
    c.database_url = Some(secrecy::SecretString::from(
        "postgres://postgres@127.0.0.1:1/aarc".to_string(),
    ));
    c.migrate_on_start = false;
}

#[tokio::test]
async fn healthz_answers_and_readyz_checks_the_database() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_unreachable() {
    let app = spawn_app_with(database_down).await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    problem(res, 503).await;
}

#[tokio::test]
async fn webhooks_get_503_with_retry_after_when_the_database_is_unreachable() {
    let app = spawn_app_with(database_down).await;
    let t = ConnectTenant::new();
    let res = app
        .post_structured(&t, &v2_objects_event(&t.cloud_id, &["1"]))
        .await;
    assert_eq!(res.headers()["retry-after"], "5");
    problem(res, 503).await;
    // A Forge delivery is verified without the database, then cannot be stored.
    let (installation, cloud_id) = new_forge_installation();
    let fit = sign_fit(&fit_claims(&installation, &cloud_id), 1);
    let res = app
        .client
        .post(app.url(WEBHOOK))
        .bearer_auth(fit)
        .header("Content-Type", "application/cloudevents+json")
        .body(v2_objects_event(&cloud_id, &["1"]).to_string())
        .send()
        .await
        .unwrap();
    problem(res, 503).await;
}

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = spawn_app().await;
    problem(app.client.get(app.url("/nope")).send().await.unwrap(), 404).await;
}
