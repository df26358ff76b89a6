//! Nothing acknowledged is lost: database connections killed mid-stream,
//! concurrent redeliveries, and a SIGTERM under load.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::helpers::*;
use crate::load::*;

/// Every acknowledged event id is in the inbox exactly once, with its object blocked.
pub async fn assert_all_committed(
    app_pool: &sqlx::PgPool,
    cloud_id: &str,
    acked: &HashSet<String>,
) {
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM inbox_events WHERE cloud_id = $1")
            .bind(cloud_id)
            .fetch_all(app_pool)
            .await
            .unwrap();
    let stored_set: HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "no event is stored twice");
    let lost: Vec<_> = acked.difference(&stored_set).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    let blocked: Vec<String> =
        sqlx::query_scalar("SELECT object_id FROM blocked_objects WHERE cloud_id = $1")
            .bind(cloud_id)
            .fetch_all(app_pool)
            .await
            .unwrap();
    let blocked: HashSet<String> = blocked.into_iter().collect();
    for id in acked {
        assert!(
            blocked.contains(id),
            "event {id} acknowledged but its object is not blocked"
        );
    }
}

#[tokio::test]
async fn no_2xx_is_given_for_an_event_lost_when_connections_are_killed() {
    let app = spawn_app().await;
    let t = Arc::new(app.connect_tenant().await);
    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicUsize::new(0));
    // The killer terminates aarc's backends (application_name 'aarc') again and again.
    let killer = {
        let (stop, killed, pool) = (stop.clone(), killed.clone(), app.pool.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE datname = current_database() AND application_name = 'aarc'",
                )
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
                killed.fetch_add(n as usize, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(15)).await;
            }
        })
    };
    let mut senders = Vec::new();
    for worker in 0..8 {
        let (client, url, t) = (app.client.clone(), app.url(WEBHOOK), t.clone());
        senders.push(tokio::spawn(async move {
            let mut results = Vec::new();
            for i in 0..40 {
                let id = format!("{worker}-{i}");
                let mut event = v2_objects_event(&t.cloud_id, &[&id]);
                event["id"] = Value::String(id.clone());
                let res = client
                    .post(&url)
                    .header("Authorization", format!("JWT {}", t.jwt("")))
                    .header("Content-Type", "application/cloudevents+json")
                    .body(event.to_string())
                    .send()
                    .await
                    .unwrap();
                results.push((id, event, res.status().as_u16()));
            }
            results
        }));
    }
    let mut results = Vec::new();
    for s in senders {
        results.extend(s.await.unwrap());
    }
    stop.store(true, Ordering::SeqCst);
    killer.await.unwrap();
    assert!(
        killed.load(Ordering::SeqCst) > 0,
        "the test killed no connection"
    );
    for (_, _, status) in &results {
        assert!(
            matches!(status, 200 | 202 | 503),
            "unexpected status {status}"
        );
    }
    let acked: HashSet<String> = results
        .iter()
        .filter(|r| r.2 < 300)
        .map(|r| r.0.clone())
        .collect();
    assert_all_committed(&app.pool, &t.cloud_id, &acked).await;
    // Atlassian retries what was refused; after that everything is there once.
    for (_, event, status) in results.iter().filter(|r| r.2 >= 300) {
        let res = app.post_structured(&t, event).await;
        assert!(
            res.status().is_success(),
            "retry of a {status} failed: {}",
            res.status()
        );
    }
    let all: HashSet<String> = results.iter().map(|r| r.0.clone()).collect();
    assert_all_committed(&app.pool, &t.cloud_id, &all).await;
    assert_eq!(app.inbox_count(&t.cloud_id).await, 320);
}

#[tokio::test]
async fn the_same_event_sent_by_many_clients_at_once_is_applied_exactly_once() {
    same_event_from_many_clients(spawn_app().await).await;
}

/// With no wait for the group ahead, the copies go in groups written side
/// by side, which PostgreSQL may roll back to break a deadlock between
/// them; such a group is written again, and still no copy gets a 503.
#[tokio::test]
async fn copies_in_groups_written_side_by_side_are_applied_exactly_once() {
    for _ in 0..20 {
        let app = spawn_app_with_vars(
            &[
                ("AARC_INGEST_BATCH_WAIT_MS".into(), "0".into()),
                ("AARC_INGEST_WRITERS".into(), "4".into()),
            ],
            |_| {},
        )
        .await;
        same_event_from_many_clients(app).await;
    }
}

/// 32 clients post one event at once: one copy is applied, 31 are
/// duplicates, and the event is stored once.
async fn same_event_from_many_clients(app: TestApp) {
    let t = Arc::new(app.connect_tenant().await);
    let event = Arc::new(v2_objects_event(&t.cloud_id, &["1", "2", "3"]));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (client, url, t, event) = (
            app.client.clone(),
            app.url(WEBHOOK),
            t.clone(),
            event.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(&url)
                .header("Authorization", format!("JWT {}", t.jwt("")))
                .header("Content-Type", "application/cloudevents+json")
                .body(event.to_string())
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (
                status,
                body["events"][0]["status"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let applied = outcomes.iter().filter(|o| o.1 == "applied").count();
    let duplicates = outcomes.iter().filter(|o| o.1 == "duplicate").count();
    assert_eq!(applied, 1, "{outcomes:?}");
    assert_eq!(duplicates, 31, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| (o.0 == 202) == (o.1 == "applied")));
    assert_eq!(app.inbox_count(&t.cloud_id).await, 1);
    assert_eq!(app.blocked_count(&t.cloud_id).await, 3);
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish_and_loses_nothing_acknowledged() {
    sigterm_under_load(1).await;
}

/// With several HTTP threads, one may finish its requests and stop while
/// another still waits for a group's commit: that one is still answered 202.
#[tokio::test]
async fn sigterm_with_two_http_threads_answers_every_request_in_flight() {
    sigterm_under_load(2).await;
}

/// SIGTERM while 4 clients send events, with `http_threads` HTTP threads:
/// aarc exits cleanly, every request it answered was answered 202 (none
/// refused for the shutdown), and every acknowledged event is stored.
async fn sigterm_under_load(http_threads: usize) {
    let db_url = fresh_database().await;
    let t = ConnectTenant::new();
    add_tenant_with_cli(&db_url, &t);
    let threads = http_threads.to_string();
    let aarc = start_aarc_process(
        &db_url,
        &[("AARC_RECONCILER", "off"), ("AARC_HTTP_WORKERS", &threads)],
    )
    .await;
    let (mut child, base) = (aarc.child, aarc.base);
    let client = reqwest::Client::new();
    let t = Arc::new(t);
    let mut senders = Vec::new();
    for worker in 0..4 {
        let (client, base, t) = (client.clone(), base.clone(), t.clone());
        senders.push(tokio::spawn(async move {
            let (mut acked, mut refused) = (Vec::new(), Vec::new());
            for i in 0..200 {
                let id = format!("{worker}-{i}");
                match post_event_named(&client, &base, &t, &id).await {
                    Ok(res) if res.status() == 202 => acked.push(id),
                    Ok(res) => refused.push(format!("{id}: {}", res.status())),
                    Err(_) => break, // the server has stopped accepting
                }
            }
            (acked, refused)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(40), child.wait())
        .await
        .expect("aarc stops within its shutdown timeout")
        .unwrap();
    assert!(status.success(), "aarc exits cleanly on SIGTERM: {status}");
    let (mut acked, mut refused) = (HashSet::new(), Vec::new());
    for s in senders {
        let (a, r) = s.await.unwrap();
        acked.extend(a);
        refused.extend(r);
    }
    assert!(!acked.is_empty());
    assert!(refused.is_empty(), "answered other than 202: {refused:?}");
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    assert_all_committed(&pool, &t.cloud_id, &acked).await;
}

/// A real deadlock between two transactions: the one PostgreSQL rolls back
/// surfaces as `Contended` (retried by the writers), not as the database
/// being unavailable (which closes their connections).
#[tokio::test]
async fn a_deadlock_is_contention_not_unavailability() {
    use sqlx::Connection;
    let url = empty_database().await;
    let mut a = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut b = sqlx::PgConnection::connect(&url).await.unwrap();
    for statement in [
        "CREATE TABLE two (id int PRIMARY KEY)",
        "INSERT INTO two VALUES (1), (2)",
    ] {
        sqlx::query(statement).execute(&mut a).await.unwrap();
    }
    let mut ta = a.begin().await.unwrap();
    let mut tb = b.begin().await.unwrap();
    let lock = |id: i32| sqlx::query("UPDATE two SET id = id WHERE id = $1").bind(id);
    lock(1).execute(&mut *ta).await.unwrap();
    lock(2).execute(&mut *tb).await.unwrap();
    // Each now waits for the row the other holds; PostgreSQL breaks the
    // cycle by failing one of them.
    let (first, second) = tokio::join!(lock(2).execute(&mut *ta), lock(1).execute(&mut *tb));
    let failed = first
        .err()
        .or(second.err())
        .expect("one side was rolled back");
    let err = aarc::Error::from(failed);
    assert!(matches!(err, aarc::Error::Contended(_)), "{err:?}");
}
