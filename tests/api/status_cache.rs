//! Batch checks answered from memory: the same answers as the database, and
//! never one older than the last committed change, whichever replica made it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

const NO_CACHE: &str = "AARC_STATUS_CACHE_OBJECTS";

/// A 200 answer's `aarc-answered-from` header.
fn answered_from(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), 200);
    res.headers()["aarc-answered-from"]
        .to_str()
        .unwrap()
        .to_string()
}

/// One batch check: its results and where aarc says it answered from.
async fn check(app: &TestApp, cloud_id: &str, objects: &[Value]) -> (Vec<Value>, String) {
    let res = app
        .client
        .post(app.url(&format!("/v1/sites/{cloud_id}/objects/check")))
        .bearer_auth(SERVICE_TOKEN)
        .json(&json!({ "objects": objects }))
        .send()
        .await
        .unwrap();
    let from = answered_from(&res);
    let body: Value = res.json().await.unwrap();
    (body["results"].as_array().unwrap().clone(), from)
}

/// Checks until the answer comes from memory (the copy is read in the
/// background after a check the database answered).
async fn check_from_memory(app: &TestApp, cloud_id: &str, objects: &[Value]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (results, from) = check(app, cloud_id, objects).await;
        if from == "memory" {
            return results;
        }
        assert!(
            Instant::now() < deadline,
            "the site was never answered from memory"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn pages(ids: &[&str]) -> Vec<Value> {
    ids.iter()
        .map(|id| json!({"product": "confluence", "type": "page", "id": id}))
        .collect()
}

async fn put_policy(app: &TestApp, cloud_id: &str, action: &str, grace: &str) {
    let res = app
        .client
        .put(app.url(&format!("/admin/sites/{cloud_id}/policies")))
        .bearer_auth(OPERATOR_TOKEN)
        .json(
            &json!({"policies": [{"product": "confluence", "type": "page", "action": action,
                                     "grace": grace, "review": "auto"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn answers_from_memory_equal_the_databases_in_every_state() {
    let cached = spawn_app().await;
    let uncached = spawn_app_on(&cached.database_url(), &vars(&[(NO_CACHE, "0")]), |_| {}).await;
    let t = cached.connect_tenant().await;
    let ids: Vec<String> = (0..60).map(|i| format!("p{i}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut event = v2_objects_event(&t.cloud_id, &id_refs);
    event["data"]["objects"]
        .as_array_mut()
        .unwrap()
        .push(json!({"product": "jira", "type": "issue", "ids": ["10042"]}));
    assert_eq!(cached.post_structured(&t, &event).await.status(), 202);
    // Every state, kept objects and a decision, written as the reconciler
    // and operators would leave them.
    let decision = uuid::Uuid::new_v4();
    sqlx::query(
        "UPDATE blocked_objects SET
             state = (ARRAY['blocked','hidden','pending_review','purging','purged','restored'])
                     [1 + substring(object_id from 2)::int % 6],
             kept = substring(object_id from 2)::int % 7 = 0,
             decision_id = CASE WHEN substring(object_id from 2)::int % 5 = 0 THEN $2 END
         WHERE cloud_id = $1 AND product = 'confluence'",
    )
    .bind(&t.cloud_id)
    .bind(decision)
    .execute(&cached.pool)
    .await
    .unwrap();
    put_policy(&cached, &t.cloud_id, "purge", "3d").await;
    let mut objects = pages(&id_refs);
    objects.extend(pages(&["never-blocked", "p60"]));
    objects.push(json!({"product": "jira", "type": "issue", "id": "10042"}));
    objects.push(json!({"product": "jira", "type": "bug", "id": "10042"}));
    let from_memory = check_from_memory(&cached, &t.cloud_id, &objects).await;
    let (from_database, from) = check(&uncached, &t.cloud_id, &objects).await;
    assert_eq!(from, "database");
    assert_eq!(from_memory, from_database);
    for id in ["p0", "p1", "p5", "p7", "p42", "p60"] {
        let (memory, from) = single(&cached, &t.cloud_id, id).await;
        assert_eq!(from, "memory", "{id}");
        assert_eq!(memory, single(&uncached, &t.cloud_id, id).await.0, "{id}");
    }
    // The answers are not trivially alike: several states, purge dates
    // (policy) and their absence (keep, restored), the jira default.
    let states: std::collections::HashSet<&str> = from_memory
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 7, "{states:?}");
    assert!(from_memory
        .iter()
        .any(|r| r["purge_after"] == "2026-11-23T08:08:08Z"));
    assert!(from_memory
        .iter()
        .any(|r| r["blocked"] == true && r["purge_after"].is_null()));
    assert!(from_memory
        .iter()
        .any(|r| r["decision_id"] == decision.to_string()));
}

#[tokio::test]
async fn a_committed_change_is_in_the_next_answer_whichever_replica_wrote_it() {
    let a = spawn_app().await;
    let b = spawn_app_on(&a.database_url(), &[], |_| {}).await;
    let t = a.connect_tenant().await;
    assert_eq!(
        a.post_structured(&t, &v2_objects_event(&t.cloud_id, &["p1"]))
            .await
            .status(),
        202
    );
    let objects = pages(&["p1", "p2"]);
    let before = check_from_memory(&a, &t.cloud_id, &objects).await;
    assert_eq!(
        (before[0]["blocked"].clone(), before[1]["blocked"].clone()),
        (json!(true), json!(false))
    );

    // A block acknowledged by the other replica is in A's very next answer.
    assert_eq!(
        b.post_structured(&t, &v2_objects_event(&t.cloud_id, &["p2"]))
            .await
            .status(),
        202
    );
    let (after, from) = check(&a, &t.cloud_id, &objects).await;
    assert_eq!(from, "database", "the copy is stale and must not answer");
    assert_eq!(after[1]["blocked"], true);
    let again = check_from_memory(&a, &t.cloud_id, &objects).await;
    assert_eq!(again, after);

    // So is a policy change (it moves purge dates) ...
    put_policy(&b, &t.cloud_id, "purge", "1d").await;
    let (purging, _) = check(&a, &t.cloud_id, &objects).await;
    assert_eq!(purging[0]["purge_after"], "2026-11-21T08:08:08Z");
    assert_eq!(check_from_memory(&a, &t.cloud_id, &objects).await, purging);

    // ... and a state change made straight in the database.
    sqlx::query(
        "UPDATE blocked_objects SET state = 'hidden' WHERE cloud_id = $1 AND object_id = 'p1'",
    )
    .bind(&t.cloud_id)
    .execute(&a.pool)
    .await
    .unwrap();
    let (hidden, _) = check(&a, &t.cloud_id, &objects).await;
    assert_eq!(hidden[0]["state"], "hidden");
    assert_eq!(check_from_memory(&a, &t.cloud_id, &objects).await, hidden);
}

#[tokio::test]
async fn a_site_larger_than_the_cache_is_always_answered_by_the_database() {
    let app = spawn_app_with_vars(&vars(&[(NO_CACHE, "2")]), |_| {}).await;
    let t = app.connect_tenant().await;
    let event = v2_objects_event(&t.cloud_id, &["p1", "p2", "p3"]);
    assert_eq!(app.post_structured(&t, &event).await.status(), 202);
    let objects = pages(&["p1", "p3", "p4"]);
    for _ in 0..10 {
        let (results, from) = check(&app, &t.cloud_id, &objects).await;
        assert_eq!(from, "database");
        let blocked: Vec<bool> = results.iter().map(|r| r["blocked"] == true).collect();
        assert_eq!(blocked, [true, true, false]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn counters_of_departed_backends_fold_without_changing_a_sites_version() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let site = aarc::domain::CloudId::parse(&t.cloud_id).unwrap();
    let version = || aarc::store::status_versions::current(&app.pool, &site);
    assert_eq!(version().await.unwrap(), 0);
    // Three writes, each from a connection that then goes away.
    for id in ["p1", "p2", "p3"] {
        let pool = sqlx::PgPool::connect(&app.database_url()).await.unwrap();
        assert_eq!(
            app.post_structured(&t, &v2_objects_event(&t.cloud_id, &[id]))
                .await
                .status(),
            202
        );
        sqlx::query(
            "UPDATE blocked_objects SET kept = true WHERE cloud_id = $1 AND object_id = $2",
        )
        .bind(&t.cloud_id)
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let before = version().await.unwrap();
    assert!(before >= 6, "each write raised the version: {before}");
    // A backend's exit is noticed by pg_stat_activity shortly after close.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut folded = 0;
    while Instant::now() < deadline && folded < 3 {
        folded += aarc::store::status_versions::fold_departed(&app.pool)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(folded, 3, "the three departed connections' counters");
    assert_eq!(version().await.unwrap(), before);
    let folded_rows = app
        .count(
            "SELECT count(*) FROM status_versions WHERE cloud_id = $1 AND backend = 0",
            &t.cloud_id,
        )
        .await;
    assert_eq!(folded_rows, 1);
}

async fn single(app: &TestApp, cloud_id: &str, id: &str) -> (Value, String) {
    let res = app
        .client
        .get(app.url(&format!(
            "/v1/sites/{cloud_id}/objects/confluence/page/{id}"
        )))
        .bearer_auth(SERVICE_TOKEN)
        .send()
        .await
        .unwrap();
    let from = answered_from(&res);
    (res.json().await.unwrap(), from)
}

/// Many concurrent requests share version reads; each must still see every
/// block acknowledged before it was sent, by whichever replica.
#[tokio::test]
async fn concurrent_single_statuses_see_every_block_acknowledged_before_them() {
    let a = spawn_app().await;
    let b = spawn_app_on(&a.database_url(), &[], |_| {}).await;
    let t = a.connect_tenant().await;
    let first = v2_objects_event(&t.cloud_id, &["seed"]);
    assert_eq!(a.post_structured(&t, &first).await.status(), 202);
    check_from_memory(&a, &t.cloud_id, &pages(&["seed"])).await;
    let (a, b, t) = (
        std::sync::Arc::new(a),
        std::sync::Arc::new(b),
        std::sync::Arc::new(t),
    );
    let mut tasks = Vec::new();
    for client in 0..16 {
        let (a, b, t) = (a.clone(), b.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let mut from_memory = 0;
            for n in 0..10 {
                let id = format!("c{client}-{n}");
                // Not blocked yet: answered (often from memory) as clear ...
                let (before, from) = single(&a, &t.cloud_id, &id).await;
                assert_eq!(before["state"], "clear", "{id}");
                from_memory += usize::from(from == "memory");
                // ... blocked through the other replica, then asked at once.
                let event = v2_objects_event(&t.cloud_id, &[id.as_str()]);
                assert_eq!(b.post_structured(&t, &event).await.status(), 202);
                let (after, _) = single(&a, &t.cloud_id, &id).await;
                assert_eq!(after["state"], "blocked", "{id} acknowledged but not seen");
            }
            from_memory
        }));
    }
    let mut from_memory = 0;
    for task in tasks {
        from_memory += task.await.unwrap();
    }
    println!("{from_memory} of 160 'clear' answers came from memory");
}

/// The version reader keeps its connection while requests keep coming; when
/// the database drops it (an operator's kill of every aarc connection), the
/// read is retried on fresh ones instead of failing the requests.
#[tokio::test]
async fn status_requests_survive_their_database_connections_being_killed() {
    let app = std::sync::Arc::new(spawn_app().await);
    let t = app.connect_tenant().await;
    let event = v2_objects_event(&t.cloud_id, &["p1"]);
    assert_eq!(app.post_structured(&t, &event).await.status(), 202);
    check_from_memory(&app, &t.cloud_id, &pages(&["p1"])).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (app, stop, site) = (app.clone(), stop.clone(), t.cloud_id.clone());
        load.push(tokio::spawn(async move {
            let mut answered = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let res = app
                    .client
                    .get(app.url(&format!("/v1/sites/{site}/objects/confluence/page/p1")))
                    .bearer_auth(SERVICE_TOKEN)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
                answered += 1;
            }
            answered
        }));
    }
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND application_name LIKE 'aarc%'",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        assert!(!killed.is_empty(), "aarc had connections to kill");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answered = 0;
    for task in load {
        answered += task.await.unwrap();
    }
    assert!(answered > 50, "the load ran: {answered} answers");
}

#[tokio::test]
async fn both_ways_of_writing_blocks_raise_the_sites_version() {
    use aarc::domain::{ObjectRef, Product};
    use aarc::store::blocks::{block_objects, ObjectBlock};
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let site = aarc::domain::CloudId::parse(&t.cloud_id).unwrap();
    let version = || aarc::store::status_versions::current(&app.pool, &site);
    assert_eq!(version().await.unwrap(), 0);
    // The group statement (what a webhook request writes).
    let event = v2_objects_event(&t.cloud_id, &["p1"]);
    assert_eq!(app.post_structured(&t, &event).await.status(), 202);
    let after_event = version().await.unwrap();
    assert!(after_event > 0, "a new block raised the version");
    // The statement per round (groups that name an object twice), both for
    // a new row and for one already stored.
    let inbox_id: i64 = sqlx::query_scalar("SELECT max(id) FROM inbox_events WHERE cloud_id = $1")
        .bind(&t.cloud_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let product = Product::parse("confluence").unwrap();
    let mut conn = app.pool.acquire().await.unwrap();
    let mut last = after_event;
    for id in ["p9", "p1"] {
        let object = ObjectRef::parse(product.clone(), "page", id).unwrap();
        let block = ObjectBlock {
            cloud_id: &t.cloud_id,
            object: &object,
            blocked_at: chrono::Utc::now(),
            inbox_id,
        };
        block_objects(&mut conn, &[vec![block]]).await.unwrap();
        let now = version().await.unwrap();
        assert!(now > last, "{id} raised the version");
        last = now;
    }
    assert_eq!(app.blocked_count(&t.cloud_id).await, 2);
}
