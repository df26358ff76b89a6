//! The status API for the app's services (contract §4).

use serde_json::{json, Value};

use crate::helpers::*;

impl TestApp {
    async fn get_status(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn get_json(&self, path: &str) -> Value {
        let res = self.get_status(path, Some(SERVICE_TOKEN)).await;
        assert_eq!(res.status(), 200, "{path}");
        res.json().await.unwrap()
    }
}

async fn site_with_blocks(app: &TestApp) -> ConnectTenant {
    let t = app.connect_tenant().await;
    let mut event = v2_objects_event(&t.cloud_id, &["p1", "p2", "p3"]);
    event["data"]["objects"]
        .as_array_mut()
        .unwrap()
        .push(json!({"product": "jira", "type": "issue", "ids": ["10042", "10043"]}));
    assert_eq!(app.post_structured(&t, &event).await.status(), 202);
    t
}

#[tokio::test]
async fn one_object_status_is_blocked_or_clear() {
    let app = spawn_app().await;
    let t = site_with_blocks(&app).await;
    let blocked = app
        .get_json(&format!(
            "/v1/sites/{}/objects/Confluence/page/p1",
            t.cloud_id
        ))
        .await;
    assert_eq!(blocked["blocked"], true);
    assert_eq!(blocked["state"], "blocked");
    assert_eq!(blocked["product"], "confluence");
    assert_eq!(blocked["blocked_since"], "2026-11-20T08:08:08Z");
    assert_eq!(blocked["purge_after"], Value::Null);
    let clear = app
        .get_json(&format!(
            "/v1/sites/{}/objects/confluence/page/nope",
            t.cloud_id
        ))
        .await;
    assert_eq!(
        (clear["blocked"].clone(), clear["state"].clone()),
        (json!(false), json!("clear"))
    );
    let unknown_site = app
        .get_json("/v1/sites/no-such-site/objects/jira/issue/1")
        .await;
    assert_eq!(unknown_site["state"], "clear");
}

#[tokio::test]
async fn the_status_api_needs_a_service_or_operator_token() {
    let app = spawn_app().await;
    let t = site_with_blocks(&app).await;
    let path = format!("/v1/sites/{}/objects/confluence/page/p1", t.cloud_id);
    problem(app.get_status(&path, None).await, 401).await;
    problem(app.get_status(&path, Some("wrong-token")).await, 401).await;
    assert_eq!(
        app.get_status(&path, Some(OPERATOR_TOKEN)).await.status(),
        200
    );
}

#[tokio::test]
async fn batch_check_answers_in_input_order() {
    let app = spawn_app().await;
    let t = site_with_blocks(&app).await;
    let mut objects: Vec<Value> = (0..998)
        .map(|i| json!({"product": "confluence", "type": "page", "id": format!("x{i}")}))
        .collect();
    objects.insert(
        10,
        json!({"product": "JIRA", "type": "issue", "id": "10043"}),
    );
    objects.push(json!({"product": "confluence", "type": "page", "id": "p2"}));
    let res = app
        .client
        .post(app.url(&format!("/v1/sites/{}/objects/check", t.cloud_id)))
        .bearer_auth(SERVICE_TOKEN)
        .json(&json!({ "objects": objects }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    assert_eq!(results[10]["id"], "10043");
    assert_eq!(results[10]["state"], "blocked");
    assert_eq!(results[999]["id"], "p2");
    assert_eq!(results[999]["blocked"], true);
    assert_eq!(results.iter().filter(|r| r["blocked"] == true).count(), 2);
    assert_eq!(results[0]["state"], "clear");
}

#[tokio::test]
async fn batch_check_refuses_bad_bodies_precisely() {
    let app = spawn_app().await;
    let t = site_with_blocks(&app).await;
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"product": "jira", "type": "issue", "id": i.to_string()}))
        .collect();
    let cases = vec![
        (json!({"objects": []}).to_string(), "1 to 1000"),
        (json!({"objects": many}).to_string(), "not 1001"),
        (
            json!({"objects": [{"product": "jira", "type": "issue"}]}).to_string(),
            "id",
        ),
        (
            json!({"objects": [{"product": "jira", "type": "issue", "id": ""}]}).to_string(),
            "objects[0]",
        ),
        ("not json".to_string(), "the body must be"),
    ];
    for (body, expected) in cases {
        let res = app
            .client
            .post(app.url(&format!("/v1/sites/{}/objects/check", t.cloud_id)))
            .bearer_auth(SERVICE_TOKEN)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let p = problem(res, 400).await;
        assert!(
            p["detail"].as_str().unwrap().contains(expected),
            "{expected}: {p}"
        );
    }
}

#[tokio::test]
async fn blocks_are_listed_in_stable_keyset_pages() {
    let app = spawn_app().await;
    let t = site_with_blocks(&app).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/sites/{}/blocks?limit=2", t.cloud_id);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get_json(&path).await;
        for o in page["objects"].as_array().unwrap() {
            seen.push(format!(
                "{}/{}/{}",
                o["product"].as_str().unwrap(),
                o["type"].as_str().unwrap(),
                o["id"].as_str().unwrap()
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![
            "jira/issue/10042",
            "jira/issue/10043",
            "confluence/page/p1",
            "confluence/page/p2",
            "confluence/page/p3"
        ]
    );
    let jira = app
        .get_json(&format!(
            "/v1/sites/{}/blocks?product=jira&type=issue&state=blocked",
            t.cloud_id
        ))
        .await;
    assert_eq!(jira["objects"].as_array().unwrap().len(), 2);
    assert_eq!(jira["next_cursor"], Value::Null);
    let hidden = app
        .get_json(&format!("/v1/sites/{}/blocks?state=hidden", t.cloud_id))
        .await;
    assert!(hidden["objects"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn block_list_filters_are_validated() {
    let app = spawn_app().await;
    let t = site_with_blocks(&app).await;
    for (query, expected) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("state=gone", "state"),
        ("product=bitbucket", "product"),
        ("cursor=%%%", "cursor"),
        ("cursor=bm90LWpzb24", "cursor"),
        ("color=red", "unknown query parameter"),
    ] {
        let res = app
            .get_status(
                &format!("/v1/sites/{}/blocks?{query}", t.cloud_id),
                Some(SERVICE_TOKEN),
            )
            .await;
        let p = problem(res, 400).await;
        assert!(
            p["detail"].as_str().unwrap().contains(expected),
            "{query}: {p}"
        );
    }
    problem(
        app.get_status("/v1/sites/unknown-site/blocks", Some(SERVICE_TOKEN))
            .await,
        404,
    )
    .await;
    problem(
        app.get_status("/v1/sites/unknown-site/summary", Some(SERVICE_TOKEN))
            .await,
        404,
    )
    .await;
    problem(
        app.get_status("/v1/sites/unknown-site/containers", Some(SERVICE_TOKEN))
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn containers_and_summary_describe_the_site() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let empty = app
        .get_json(&format!("/v1/sites/{}/summary", t.cloud_id))
        .await;
    assert_eq!(empty["anyContentBlocked"], false);
    assert_eq!(empty["counts"]["blocked"], 0);
    let container = json!({"specversion": "1.0", "id": uuid::Uuid::new_v4().to_string(),
        "source": "atlassian.com/ecosystem", "time": "2026-11-20T08:08:08Z",
        "type": "avi:ecosystem.app_policy:blocked:app_access_to_objects_in_container.v2",
        "data": {"workspace": {"cloudId": t.cloud_id}, "container": {"product": "confluence", "id": "SPACE-1"}}});
    assert_eq!(app.post_structured(&t, &container).await.status(), 202);
    let containers = app
        .get_json(&format!("/v1/sites/{}/containers", t.cloud_id))
        .await;
    assert_eq!(containers["containers"][0]["id"], "SPACE-1");
    assert_eq!(
        containers["containers"][0]["blocked_since"],
        "2026-11-20T08:08:08Z"
    );
    let summary = app
        .get_json(&format!("/v1/sites/{}/summary", t.cloud_id))
        .await;
    assert_eq!(summary["anyContentBlocked"], true);
    assert_eq!(summary["containers"], 1);
    assert_eq!(
        app.post_structured(&t, &v2_objects_event(&t.cloud_id, &["1", "2"]))
            .await
            .status(),
        202
    );
    let summary = app
        .get_json(&format!("/v1/sites/{}/summary", t.cloud_id))
        .await;
    assert_eq!(summary["counts"]["blocked"], 2);
    assert_eq!(summary["counts"]["purged"], 0);
}

#[tokio::test]
async fn history_lists_every_event_about_the_object_oldest_first() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let mut late = v2_objects_event(&t.cloud_id, &["h1"]);
    late["time"] = json!("2026-11-21T00:00:00Z");
    let mut early = v2_objects_event(&t.cloud_id, &["h1", "h2"]);
    early["time"] = json!("2026-11-02T00:00:00Z");
    for e in [&late, &early] {
        assert_eq!(app.post_structured(&t, e).await.status(), 202);
    }
    let h = app
        .get_json(&format!(
            "/v1/sites/{}/objects/confluence/page/h1/history",
            t.cloud_id
        ))
        .await;
    assert_eq!(h["object"]["state"], "blocked");
    let entries = h["history"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["event_id"], early["id"]);
    assert_eq!(entries[1]["event_id"], late["id"]);
    assert_eq!(entries[0]["kind"], "event");
    assert!(entries[0]["received_at"].is_string());
    let none = app
        .get_json(&format!(
            "/v1/sites/{}/objects/confluence/page/zzz/history",
            t.cloud_id
        ))
        .await;
    assert_eq!(none["object"]["state"], "clear");
    assert!(none["history"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let app = spawn_app().await;
    let served = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let committed = std::fs::read_to_string("schemas/openapi.json").unwrap();
    assert_eq!(
        served, committed,
        "schemas/openapi.json is stale: run `cargo run -- openapi > schemas/openapi.json`"
    );
    let doc: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/webhooks/atlassian",
        "/v1/sites/{cloudId}/objects/check",
        "/v1/sites/{cloudId}/blocks",
        "/v1/sites/{cloudId}/summary",
        "/admin/tenants/{clientKey}",
        "/readyz",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
}
