//! The load: signed v2 events posted to aarc, and the bare inserts that
//! stand for what a large event writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::common::http1::Http1;
use crate::common::{closed_loop, pool, Figures};
use crate::{CLIENT_KEY, CLOUD_ID, LARGE_IDS, SECRET, V2};

/// A v2 objects-blocked event naming `ids` on the bench site. Written out
/// directly (the ids here need no escaping): building a `serde_json::Value`
/// per request took the load generator, which shares the two cores with
/// aarc and PostgreSQL, half again as much CPU per request.
fn event_body(id: &str, ids: &[String]) -> String {
    use std::fmt::Write;
    let mut body = String::with_capacity(400 + ids.len() * 24);
    let time = chrono::Utc::now().to_rfc3339();
    let _ = write!(
        body,
        r#"{{"specversion":"1.0","id":"{id}","source":"atlassian.com/ecosystem","time":"{time}","type":"{V2}","data":{{"workspace":{{"cloudId":"{CLOUD_ID}"}},"objects":[{{"product":"confluence","type":"page","ids":["#
    );
    for (i, object_id) in ids.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(body, "\"{object_id}\"");
    }
    body.push_str("]}]}}");
    body
}

/// The hand-written body is the JSON it stands for.
pub fn check_event_body() {
    let ids = vec!["a-1".to_string(), "a-2".to_string()];
    let parsed: serde_json::Value = serde_json::from_str(&event_body("e-1", &ids)).unwrap();
    assert_eq!(parsed["id"], "e-1");
    assert_eq!(parsed["type"], V2);
    assert_eq!(parsed["data"]["workspace"]["cloudId"], CLOUD_ID);
    assert_eq!(parsed["data"]["objects"][0]["ids"], serde_json::json!(ids));
}

/// Signs like Atlassian: a fresh Connect JWT (with the request's qsh) per request.
fn token() -> String {
    aarc::ingest::auth::connect::sign(
        CLIENT_KEY,
        &SecretString::from(SECRET),
        "POST",
        "/webhooks/atlassian",
        "",
    )
    .unwrap()
}

/// Posts events from `clients` keep-alive connections for `secs`; each event
/// names `ids_per_event` new objects. `run` keeps event and object ids of
/// different runs apart.
pub async fn drive(
    base: &str,
    run: usize,
    clients: usize,
    secs: Duration,
    ids_per_event: usize,
) -> Figures {
    let addr = base.trim_start_matches("http://").to_string();
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        let connection = Http1::connect(&addr).await.expect("connect to aarc");
        connections.push(tokio::sync::Mutex::new(connection));
    }
    let connections = Arc::new(connections);
    // A Connect JWT is valid for three minutes and covers the method and
    // path, not the body: one per run stands for Atlassian's per-request ones.
    let headers = Arc::new(vec![
        format!("Authorization: JWT {}", token()),
        "Content-Type: application/cloudevents+json".to_string(),
    ]);
    let serial = Arc::new(AtomicU64::new(0));
    closed_loop(clients, secs, move |client, _| {
        let (connections, headers, serial) = (connections.clone(), headers.clone(), serial.clone());
        async move {
            let n = serial.fetch_add(1, Ordering::Relaxed);
            let ids: Vec<String> = (0..ids_per_event)
                .map(|i| format!("{run}-{ids_per_event}-{n}-{i}"))
                .collect();
            let body = event_body(&format!("bench-{run}-{ids_per_event}-{n}"), &ids);
            let request = Http1::post("/webhooks/atlassian", &headers, body.as_bytes());
            let mut connection = connections[client].lock().await;
            matches!(connection.send(&request).await, Ok(202))
        }
    })
    .await
}

/// The database's own speed for what a large event writes: new rows of
/// `LARGE_IDS` objects, one statement each, from `clients` connections. The
/// object ids are those `drive` gives a large event's objects.
pub async fn bare_inserts(db_url: &str, run: usize, clients: usize, secs: Duration) -> Figures {
    let db = pool(db_url, clients as u32);
    let serial = Arc::new(AtomicU64::new(0));
    closed_loop(clients, secs, move |_, _| {
        let (db, serial) = (db.clone(), serial.clone());
        async move {
            let n = serial.fetch_add(1, Ordering::Relaxed) as i64;
            sqlx::query(
                "INSERT INTO bench_objects (cloud_id, product, object_type, object_id, first_blocked_at,
                                            last_blocked_at, first_inbox_id, last_inbox_id, inbox_ids)
                 SELECT $1, 'confluence', 'page', $2 || '-' || g, now(), now(), 1, 1, ARRAY[1::bigint]
                 FROM generate_series(0, $3 - 1) g",
            )
            .bind(CLOUD_ID)
            .bind(format!("{run}-{LARGE_IDS}-{n}"))
            .bind(LARGE_IDS as i32)
            .execute(&db)
            .await
            .is_ok()
        }
    })
    .await
}
