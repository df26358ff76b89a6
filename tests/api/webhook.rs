//! One test per content mode, per event generation and per row of the
//! contract's response table.

use serde_json::{json, Value};

use crate::helpers::*;

const BATCH: &str = "application/cloudevents-batch+json";

/// An inbox row's mode, status and raw event (stored as text, read as JSON).
async fn inbox_row(app: &TestApp, event_id: &str) -> (String, String, Value) {
    sqlx::query_as("SELECT mode, status, raw::jsonb FROM inbox_events WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn structured_v2_objects_are_committed_then_acknowledged_with_202() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let mut event = v2_objects_event(&t.cloud_id, &["12345", "23456"]);
    event["data"]["objects"]
        .as_array_mut()
        .unwrap()
        .push(json!({"product": "Confluence", "type": "blogpost", "ids": ["777"]}));
    let res = app.post_structured(&t, &event).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    assert_eq!(
        body["events"][0],
        json!({"id": event["id"], "status": "applied"})
    );
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT product, object_type, object_id, state FROM blocked_objects
         WHERE cloud_id = $1 ORDER BY object_id",
    )
    .bind(&t.cloud_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let expected = [
        ("confluence", "page", "12345"),
        ("confluence", "page", "23456"),
        ("confluence", "blogpost", "777"),
    ];
    assert_eq!(rows.len(), 3);
    for (p, ty, id) in expected {
        assert!(rows
            .iter()
            .any(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str(), r.3.as_str())
                == (p, ty, id, "blocked")));
    }
    let (mode, status, raw) = inbox_row(&app, event["id"].as_str().unwrap()).await;
    assert_eq!((mode.as_str(), status.as_str()), ("structured", "applied"));
    assert_eq!(raw, event);
}

#[tokio::test]
async fn a_block_counts_from_the_earlier_of_event_time_and_receipt() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let mut later = v2_objects_event(&t.cloud_id, &["1"]);
    later["time"] = json!("2026-11-22T00:00:00Z");
    let mut earlier = v2_objects_event(&t.cloud_id, &["1"]);
    earlier["time"] = json!("2026-11-01T00:00:00Z");
    let mut future = v2_objects_event(&t.cloud_id, &["2"]);
    future["time"] = json!("2999-01-01T00:00:00Z");
    for e in [&later, &earlier, &future] {
        assert_eq!(app.post_structured(&t, e).await.status(), 202);
    }
    let first: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT first_blocked_at FROM blocked_objects WHERE cloud_id = $1 AND object_id = '1'",
    )
    .bind(&t.cloud_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        first.to_rfc3339(),
        "2026-11-01T00:00:00+00:00",
        "out-of-order delivery keeps the earliest"
    );
    let future_first: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT first_blocked_at FROM blocked_objects WHERE cloud_id = $1 AND object_id = '2'",
    )
    .bind(&t.cloud_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        future_first <= chrono::Utc::now(),
        "a time in the future falls back to receipt"
    );
}

#[tokio::test]
async fn container_events_record_the_container_and_no_objects() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let event = json!({"specversion": "1.0", "id": uuid::Uuid::new_v4().to_string(),
        "source": "atlassian.com/ecosystem", "time": "2026-11-20T08:08:08Z",
        "type": "avi:ecosystem.app_policy:blocked:app_access_to_objects_in_container.v2",
        "data": {"workspace": {"cloudId": t.cloud_id}, "container": {"product": "Jira", "id": "10001"}}});
    assert_eq!(app.post_structured(&t, &event).await.status(), 202);
    let containers: Vec<(String, String)> =
        sqlx::query_as("SELECT product, container_id FROM blocked_containers WHERE cloud_id = $1")
            .bind(&t.cloud_id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(containers, vec![("jira".to_string(), "10001".to_string())]);
    assert_eq!(app.blocked_count(&t.cloud_id).await, 0);
}

#[tokio::test]
async fn v1_events_infer_products_and_bind_to_the_site_url() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let event = json!({"specversion": "1.0", "id": uuid::Uuid::new_v4().to_string(),
        "source": "com.atlassian/ecosystem.app_policy", "time": "2026-11-20T08:08:08Z",
        "type": "avi:ecosystem.app_policy:blocked:app_access_to_objects.v1",
        "data": {"site": {"url": t.base_url},
                 "blockedObjects": [{"type": "page", "id": "12345"}, {"type": "issue", "id": "10042"},
                                    {"type": "gadget", "id": "9"}]}});
    assert_eq!(app.post_structured(&t, &event).await.status(), 202);
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT product, object_id FROM blocked_objects WHERE cloud_id = $1 ORDER BY object_id",
    )
    .bind(&t.cloud_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            ("jira".to_string(), "10042".to_string()),
            ("confluence".to_string(), "12345".to_string()),
            ("unknown".to_string(), "9".to_string())
        ]
    );
}

#[tokio::test]
async fn binary_mode_takes_percent_encoded_attributes_from_headers() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let id = uuid::Uuid::new_v4().to_string();
    let data = json!({"workspace": {"cloudId": t.cloud_id},
                      "objects": [{"product": "jira", "type": "issue", "ids": ["10042"]}]});
    let res = app
        .client
        .post(app.url(WEBHOOK))
        .header("Authorization", format!("JWT {}", t.jwt("")))
        .header("Content-Type", "application/json")
        .header("ce-specversion", "1.0")
        .header("ce-id", &id)
        .header("ce-source", "atlassian.com%2Fecosystem")
        .header(
            "ce-type",
            "avi:ecosystem.app_policy:blocked:app_access_to_objects.v2",
        )
        .header("ce-time", "2026-11-20T08%3A08%3A08Z")
        .body(data.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let (mode, _, raw) = inbox_row(&app, &id).await;
    assert_eq!(mode, "binary");
    assert_eq!(raw["source"], "atlassian.com/ecosystem");
    assert_eq!(raw["time"], "2026-11-20T08:08:08Z");
    assert_eq!(raw["data"], data);
    assert_eq!(app.blocked_count(&t.cloud_id).await, 1);
}

#[tokio::test]
async fn batch_mode_applies_every_event_in_one_answer() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let events = vec![
        v2_objects_event(&t.cloud_id, &["1", "2"]),
        v2_objects_event(&t.cloud_id, &["3"]),
    ];
    let batch = Value::Array(events.clone()).to_string();
    let res = app.post_body(&t, BATCH, batch).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
    assert_eq!(app.blocked_count(&t.cloud_id).await, 3);
    let (mode, ..) = inbox_row(&app, events[1]["id"].as_str().unwrap()).await;
    assert_eq!(mode, "batch");
}

#[tokio::test]
async fn a_batch_with_one_bad_event_changes_nothing() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let mut bad = v2_objects_event(&t.cloud_id, &["3"]);
    bad["data"]["objects"][0]["ids"] = json!([3]);
    let batch = json!([v2_objects_event(&t.cloud_id, &["1"]), bad]).to_string();
    let res = app.post_body(&t, BATCH, batch).await;
    let body = problem(res, 400).await;
    assert!(
        body["detail"].as_str().unwrap().contains("batch element 1"),
        "{body}"
    );
    assert_eq!(app.inbox_count(&t.cloud_id).await, 0);
    assert_eq!(app.blocked_count(&t.cloud_id).await, 0);
}

#[tokio::test]
async fn plain_json_with_and_without_cloudevents_attributes() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let full = v2_objects_event(&t.cloud_id, &["1"]);
    let mut bare = v2_objects_event(&t.cloud_id, &["2"]);
    bare.as_object_mut().unwrap().remove("specversion");
    bare.as_object_mut().unwrap().remove("source");
    for event in [&full, &bare] {
        let res = app
            .post_body(&t, "application/json", event.to_string())
            .await;
        assert_eq!(res.status(), 202);
    }
    let (mode, _, raw) = inbox_row(&app, bare["id"].as_str().unwrap()).await;
    assert_eq!(mode, "plain");
    assert_eq!(
        raw["source"], "atlassian.com/ecosystem",
        "a missing source gets the generation's own"
    );
    assert_eq!(app.blocked_count(&t.cloud_id).await, 2);
}

#[tokio::test]
async fn unknown_event_types_are_stored_as_ignored_and_change_no_blocks() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let event = json!({"specversion": "1.0", "id": uuid::Uuid::new_v4().to_string(),
        "source": "atlassian.com/ecosystem", "type": "avi:ecosystem.app_policy:unblocked:everything.v9",
        "data": {"anything": [1, 2, 3]}});
    let res = app.post_structured(&t, &event).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["events"][0]["status"], "ignored");
    let (_, status, raw) = inbox_row(&app, event["id"].as_str().unwrap()).await;
    assert_eq!(status, "ignored");
    assert_eq!(raw, event, "kept whole so it can be replayed");
}

#[tokio::test]
async fn a_redelivered_event_gets_200_duplicate_and_applies_nothing_twice() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let event = v2_objects_event(&t.cloud_id, &["1", "2"]);
    assert_eq!(app.post_structured(&t, &event).await.status(), 202);
    let before: (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("SELECT max(updated_at) FROM blocked_objects WHERE cloud_id = $1")
            .bind(&t.cloud_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let res = app.post_structured(&t, &event).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "duplicate");
    assert_eq!(body["events"][0]["status"], "duplicate");
    assert_eq!(app.inbox_count(&t.cloud_id).await, 1);
    let after: (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("SELECT max(updated_at) FROM blocked_objects WHERE cloud_id = $1")
            .bind(&t.cloud_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(before, after, "the duplicate touched no block row");
}

/// The stored words (receive mode, event status, object state) are checked
/// by the database too, whatever writes them.
#[tokio::test]
async fn the_database_refuses_a_mode_status_or_state_it_does_not_know() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let event = v2_objects_event(&t.cloud_id, &["1"]);
    assert_eq!(app.post_structured(&t, &event).await.status(), 202);
    let refusals = [
        "UPDATE inbox_events SET mode = 'carrier-pigeon' WHERE cloud_id = $1",
        "UPDATE inbox_events SET status = 'lost' WHERE cloud_id = $1",
        "UPDATE blocked_objects SET state = 'forgotten' WHERE cloud_id = $1",
    ];
    for sql in refusals {
        let err = sqlx::query(sql)
            .bind(&t.cloud_id)
            .execute(&app.pool)
            .await
            .expect_err(sql);
        let code = err.as_database_error().and_then(|e| e.code());
        assert_eq!(code.as_deref(), Some("23514"), "{sql}: {err}");
    }
    // The words it knows still go in, read back as text.
    sqlx::query("UPDATE blocked_objects SET state = 'hidden' WHERE cloud_id = $1")
        .bind(&t.cloud_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let (mode, status, state): (String, String, String) = sqlx::query_as(
        "SELECT i.mode, i.status, b.state FROM inbox_events i
         JOIN blocked_objects b ON b.first_inbox_id = i.id WHERE i.cloud_id = $1",
    )
    .bind(&t.cloud_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (mode.as_str(), status.as_str(), state.as_str()),
        ("structured", "applied", "hidden")
    );
}

/// The body is stored as sent, byte for byte, when PostgreSQL can read that
/// text as JSON, and as read otherwise: a number serde_json reads as another
/// (1e-20000 is 0 to it, and beyond what PostgreSQL's numeric accepts) is no
/// reason to refuse the event.
#[tokio::test]
async fn a_body_is_stored_as_sent_unless_a_number_was_read_as_another() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let post = |body: String| app.post_body(&t, "application/cloudevents+json", body);
    let event = v2_objects_event(&t.cloud_id, &["1"]);
    // Spaced out and with an exact integer beyond f64's precision: kept.
    let spaced = serde_json::to_string_pretty(&event).unwrap().replacen(
        '{',
        r#"{ "big": 9007199254740993,"#,
        1,
    );
    assert_eq!(post(spaced.clone()).await.status(), 202);
    let (_, _, raw) = inbox_row(&app, event["id"].as_str().unwrap()).await;
    assert_eq!(raw["big"].to_string(), "9007199254740993");
    let text: String = sqlx::query_scalar("SELECT raw FROM inbox_events WHERE event_id = $1")
        .bind(event["id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(text, spaced);
    let tiny_event = v2_objects_event(&t.cloud_id, &["2"]);
    let tiny = tiny_event
        .to_string()
        .replacen('{', r#"{"tiny": 1e-20000,"#, 1);
    assert_eq!(post(tiny).await.status(), 202);
    let (_, _, raw) = inbox_row(&app, tiny_event["id"].as_str().unwrap()).await;
    assert_eq!(raw["tiny"], 0.0);
    assert_eq!(app.blocked_count(&t.cloud_id).await, 2);
}

/// A large event's body is stored compressed with lz4, which compresses
/// several times faster than PostgreSQL's default (pglz) on the one backend
/// that writes the event — when the server was built with lz4.
#[tokio::test]
async fn a_large_events_stored_body_is_compressed_with_lz4() {
    let app = spawn_app().await;
    let lz4_available: bool = sqlx::query_scalar(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let t = app.connect_tenant().await;
    let ids: Vec<String> = (0..3000).map(|i| format!("page-{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let event = v2_objects_event(&t.cloud_id, &ids);
    let answer = app
        .post_body(&t, "application/cloudevents+json", event.to_string())
        .await;
    assert_eq!(answer.status(), 202);
    let compression: Option<String> = sqlx::query_scalar(
        "SELECT pg_column_compression(raw) FROM inbox_events WHERE event_id = $1",
    )
    .bind(event["id"].as_str().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let expected = if lz4_available { "lz4" } else { "pglz" };
    assert_eq!(compression.as_deref(), Some(expected));
    assert_eq!(app.blocked_count(&t.cloud_id).await, 3000);
}
