//! The refusals of the contract's response table: each gets its status and
//! a precise detail, and changes nothing.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn malformed_bodies_get_400_with_a_precise_detail_and_change_nothing() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let mut wrong_type = v2_objects_event(&t.cloud_id, &["1"]);
    wrong_type["data"]["objects"][0]["ids"] = json!("1");
    let mut no_id = v2_objects_event(&t.cloud_id, &["1"]);
    no_id.as_object_mut().unwrap().remove("id");
    let mut old_spec = v2_objects_event(&t.cloud_id, &["1"]);
    old_spec["specversion"] = json!("0.3");
    let cases: Vec<(String, &str)> = vec![
        ("{\"specversion\": ".to_string(), "not valid JSON"),
        (
            wrong_type.to_string(),
            "data.objects[0].ids must be an array",
        ),
        (no_id.to_string(), "attribute id is required"),
        (old_spec.to_string(), "specversion"),
    ];
    for (body, expected) in cases {
        let res = app
            .post_body(&t, "application/cloudevents+json", body)
            .await;
        let p = problem(res, 400).await;
        assert!(p["detail"].as_str().unwrap().contains(expected), "{p}");
    }
    assert_eq!(app.inbox_count(&t.cloud_id).await, 0);
}

#[tokio::test]
async fn missing_credentials_get_401() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let res = app
        .client
        .post(app.url(WEBHOOK))
        .header("Content-Type", "application/cloudevents+json")
        .body(v2_objects_event(&t.cloud_id, &["1"]).to_string())
        .send()
        .await
        .unwrap();
    let p = problem(res, 401).await;
    assert!(p["detail"].as_str().unwrap().contains("no credentials"));
    assert_eq!(app.inbox_count(&t.cloud_id).await, 0);
}

#[tokio::test]
async fn an_event_naming_another_tenants_site_gets_403_and_applies_nothing() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let other = app.connect_tenant().await;
    let res = app
        .post_structured(&t, &v2_objects_event(&other.cloud_id, &["1"]))
        .await;
    let p = problem(res, 403).await;
    assert!(p["detail"].as_str().unwrap().contains(&other.cloud_id));
    let v1 = json!({"specversion": "1.0", "id": "v1-x", "source": "com.atlassian/ecosystem.app_policy",
        "type": "avi:ecosystem.app_policy:blocked:app_access_to_objects.v1",
        "data": {"site": {"url": other.base_url}, "blockedObjects": [{"type": "page", "id": "1"}]}});
    problem(app.post_structured(&t, &v1).await, 403).await;
    for site in [&t.cloud_id, &other.cloud_id] {
        assert_eq!(app.inbox_count(site).await, 0);
        assert_eq!(app.blocked_count(site).await, 0);
    }
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4096).await;
    let t = app.connect_tenant().await;
    let ids: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let res = app
        .post_structured(&t, &v2_objects_event(&t.cloud_id, &ids))
        .await;
    problem(res, 413).await;
    // Also when the length is not declared up front (chunked upload).
    let body = v2_objects_event(&t.cloud_id, &ids).to_string().into_bytes();
    let stream = futures_util::stream::iter(
        body.chunks(1000)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let body = reqwest::Body::wrap_stream(stream);
    let res = app
        .post_body(&t, "application/cloudevents+json", body)
        .await;
    problem(res, 413).await;
    assert_eq!(app.inbox_count(&t.cloud_id).await, 0);
}

#[tokio::test]
async fn other_content_types_get_415() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    for ct in [Some("text/plain"), Some("application/xml"), None] {
        let mut req = app
            .client
            .post(app.url(WEBHOOK))
            .header("Authorization", format!("JWT {}", t.jwt("")))
            .body(v2_objects_event(&t.cloud_id, &["1"]).to_string());
        if let Some(ct) = ct {
            req = req.header("Content-Type", ct);
        }
        problem(req.send().await.unwrap(), 415).await;
    }
    assert_eq!(app.inbox_count(&t.cloud_id).await, 0);
}
