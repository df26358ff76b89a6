//! The PostgreSQL server restarts under load: while it is down aarc answers
//! 503 with `Retry-After` (never a 2xx, never another error), it recovers on
//! its own when the server is back, and nothing it acknowledged is missing.
//! The server is a private cluster of this test's own, so stopping it
//! disturbs no other test.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aarc::localdb::LocalDb;

use crate::durability::assert_all_committed;
use crate::helpers::*;
use crate::load::*;

/// What the senders saw, by kind of answer.
#[derive(Default)]
struct Answers {
    acknowledged: HashSet<String>,
    acknowledged_after_restart: usize,
    unavailable: usize,
    unavailable_without_retry_after: usize,
    unexpected: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_loses_nothing_acknowledged() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("db-restart-cluster");
    let db = LocalDb::ensure(&dir).await.expect("a private cluster");
    let db_url = db.url();
    let aarc = start_aarc_process(&db_url, &[("AARC_RECONCILER", "off")]).await;
    let t = Arc::new(ConnectTenant::new());
    add_tenant_with_cli(&db_url, &t);

    let stop = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let answers = Arc::new(Mutex::new(Answers::default()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut senders = Vec::new();
    for _ in 0..8 {
        let (client, t, stop, restarted, next, answers, base, run) = (
            client.clone(),
            t.clone(),
            stop.clone(),
            restarted.clone(),
            next.clone(),
            answers.clone(),
            aarc.base.clone(),
            run.clone(),
        );
        senders.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let id = format!("{run}-{}", next.fetch_add(1, Ordering::SeqCst));
                let after_restart = restarted.load(Ordering::SeqCst);
                let sent = post_event_named(&client, &base, &t, &id).await;
                let acknowledged = {
                    let mut seen = answers.lock().unwrap();
                    match sent {
                        Ok(res) if res.status() == 202 => {
                            seen.acknowledged.insert(id);
                            seen.acknowledged_after_restart += usize::from(after_restart);
                            true
                        }
                        Ok(res) if res.status() == 503 => {
                            seen.unavailable += 1;
                            if !res.headers().contains_key("retry-after") {
                                seen.unavailable_without_retry_after += 1;
                            }
                            false
                        }
                        Ok(res) => {
                            seen.unexpected.push(format!("{id}: HTTP {}", res.status()));
                            false
                        }
                        Err(e) => {
                            seen.unexpected.push(format!("{id}: {e}"));
                            false
                        }
                    }
                };
                if !acknowledged {
                    // As a webhook sender would, back off a little after a refusal.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_stop = next.load(Ordering::SeqCst);
    db.stop().await.expect("the server stops");
    println!("stopped PostgreSQL after {before_stop} events sent");
    // Longer than the pool's 3 s acquire timeout, so that requests waiting
    // for a connection give up and answer 503 while the server is down.
    tokio::time::sleep(Duration::from_millis(5000)).await;
    let db = LocalDb::ensure(&dir)
        .await
        .expect("the server starts again");
    restarted.store(true, Ordering::SeqCst);
    println!(
        "started PostgreSQL again after {} events sent",
        next.load(Ordering::SeqCst)
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.await.unwrap();
    }

    let seen = std::mem::take(&mut *answers.lock().unwrap());
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox_events WHERE cloud_id = $1")
        .bind(&t.cloud_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    println!(
        "sent {}, acknowledged {} ({} after the restart), 503 while down {}, stored {stored}, other answers {}",
        next.load(Ordering::SeqCst),
        seen.acknowledged.len(),
        seen.acknowledged_after_restart,
        seen.unavailable,
        seen.unexpected.len()
    );
    assert!(
        seen.unexpected.is_empty(),
        "only 202 and 503 are expected: {:?}",
        &seen.unexpected[..seen.unexpected.len().min(5)]
    );
    assert!(
        seen.unavailable > 0,
        "requests got 503 while the server was down"
    );
    assert_eq!(
        seen.unavailable_without_retry_after, 0,
        "every 503 says when to retry"
    );
    assert!(
        seen.acknowledged_after_restart > 0,
        "aarc recovered on its own after the restart"
    );
    assert_all_committed(&pool, &t.cloud_id, &seen.acknowledged).await;
    pool.close().await;
    drop(aarc);
    db.stop().await.expect("the server stops");
}
