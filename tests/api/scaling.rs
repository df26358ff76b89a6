//! Two `aarc serve` processes on one database, both receiving events and both
//! running reconciler passes every second: no acknowledged event is lost, no
//! object is decided twice, no notification is sent twice.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::fakes::{Answer, FakeServer};
use crate::helpers::*;
use crate::load::*;
use crate::metrics::{get, scrape_at};

const SITES: usize = 8;
const EVENTS: usize = 1200;
const OBJECTS_PER_EVENT: usize = 5;
const CLIENTS: usize = 16;

/// One replica: receives, reconciles every second with purge-at-once
/// policies and no verification, and notifies the fake app.
async fn start_replica(db_url: &str, callback: &str) -> AarcProcess {
    let operators = format!("ops:{OPERATOR_TOKEN}");
    let services = format!("svc:{SERVICE_TOKEN}");
    let callback = format!("{callback}/aarc");
    start_aarc_process(
        db_url,
        &[
            ("AARC_OPERATOR_TOKENS", &operators),
            ("AARC_SERVICE_TOKENS", &services),
            ("AARC_RECONCILE_INTERVAL", "1s"),
            ("AARC_VERIFY", "off"),
            ("AARC_DEFAULT_ACTION", "purge"),
            ("AARC_DEFAULT_GRACE", "0s"),
            ("AARC_DEFAULT_REVIEW", "auto"),
            ("AARC_APP_CALLBACK_URL", &callback),
            ("AARC_DB_POOL_SIZE", "8"),
            ("RUST_LOG", "warn"),
        ],
    )
    .await
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_database_without_losing_or_doubling_anything() {
    let db_url = fresh_database().await;
    let pool = PgPool::connect(&db_url).await.unwrap();
    let callback = FakeServer::start(Answer::json(200, json!({})));
    let client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let replicas = [
        start_replica(&db_url, &callback.url).await,
        start_replica(&db_url, &callback.url).await,
    ];
    let tenants: Vec<ConnectTenant> = (0..SITES).map(|_| ConnectTenant::new()).collect();
    for (i, t) in tenants.iter().enumerate() {
        let res = client
            .put(format!(
                "{}/admin/tenants/{}",
                replicas[i % 2].base,
                t.client_key
            ))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"sharedSecret": t.secret, "baseUrl": t.base_url, "cloudId": t.cloud_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }

    // Events go to both replicas from CLIENTS connections while both run passes.
    let mut ids = Vec::with_capacity(EVENTS);
    let posts: Vec<Post> = (0..EVENTS)
        .map(|n| {
            let t = &tenants[n % SITES];
            let objects: Vec<String> = (0..OBJECTS_PER_EVENT)
                .map(|k| format!("obj-{n}-{k}"))
                .collect();
            let objects: Vec<&str> = objects.iter().map(String::as_str).collect();
            let event = v2_objects_event(&t.cloud_id, &objects);
            ids.push(event["id"].as_str().unwrap().to_string());
            Post {
                url: format!("{}{WEBHOOK}", replicas[n % 2].base),
                authorization: format!("JWT {}", t.jwt("")),
                body: event.to_string(),
            }
        })
        .collect();
    let statuses = post_concurrently(&client, posts, CLIENTS).await;
    let acknowledged: Vec<&String> = ids
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| s.is_some_and(|s| (200..300).contains(&s)))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(acknowledged.len(), EVENTS, "every event is acknowledged");

    // Both reconcilers work until every object is purged and every message sent.
    let total_objects = (EVENTS * OBJECTS_PER_EVENT) as i64;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let purged = count(
            &pool,
            "SELECT count(*) FROM blocked_objects WHERE state = 'purged'",
        )
        .await;
        let waiting = count(
            &pool,
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL",
        )
        .await;
        if purged == total_objects && waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {purged} of {total_objects} purged, {waiting} message(s) waiting"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // No acknowledged event lost, none stored twice.
    let stored: Vec<String> = sqlx::query_scalar("SELECT event_id FROM inbox_events")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), EVENTS);
    let stored: HashSet<String> = stored.into_iter().collect();
    assert!(acknowledged.iter().all(|id| stored.contains(*id)));

    // No object decided twice: decisions add up to the objects, and each
    // object went to `purging` exactly once.
    assert_eq!(
        count(
            &pool,
            "SELECT coalesce(sum(object_count), 0)::bigint FROM decisions"
        )
        .await,
        total_objects
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM blocked_objects
             WHERE (SELECT count(*) FROM jsonb_array_elements(transitions) t
                    WHERE t->>'to' = 'purging') <> 1"
        )
        .await,
        0
    );

    // No notification sent twice, and each object named once per kind.
    let received = callback.recorded();
    let ids: Vec<&String> = received.iter().map(|r| &r.headers["webhook-id"]).collect();
    let distinct: HashSet<&&String> = ids.iter().collect();
    assert_eq!(
        ids.len(),
        distinct.len(),
        "a notification was delivered twice"
    );
    let mut named: HashMap<(String, String), usize> = HashMap::new();
    for r in &received {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let kind = body["type"].as_str().unwrap().to_string();
        for o in body["objects"].as_array().unwrap() {
            *named
                .entry((kind.clone(), o["id"].as_str().unwrap().to_string()))
                .or_default() += 1;
        }
    }
    let purges = named.keys().filter(|(k, _)| k == "retention.purge").count();
    assert_eq!(purges as i64, total_objects);
    assert!(
        named.values().all(|n| *n == 1),
        "an object was notified twice"
    );

    // Each process counts only its own work; together it is all the work, once.
    let (mut decided, mut delivered) = (0.0, 0.0);
    for r in &replicas {
        let samples = scrape_at(&client, &r.base).await;
        decided += get(&samples, "aarc_reconcile_objects_total{action=\"decided\"}");
        delivered += get(
            &samples,
            "aarc_outbox_delivery_attempts_total{outcome=\"delivered\"}",
        );
    }
    assert_eq!(decided as i64, total_objects);
    assert_eq!(delivered as usize, received.len());
}
