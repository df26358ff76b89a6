//! Nothing acknowledged is lost when aarc is killed with SIGKILL under load,
//! and a replay of everything, shuffled, changes nothing. Both print their
//! counts; `scripts/prove.sh` runs longer versions (see the README).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::RwLock;

use crate::durability::assert_all_committed;
use crate::helpers::*;
use crate::load::*;

pub fn env_number(name: &str, default: usize) -> usize {
    test_knob(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Receiving only: the reconciler would add writes the checks do not need.
const SERVE_VARS: &[(&str, &str)] = &[("AARC_RECONCILER", "off"), ("AARC_MIGRATE", "off")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged() {
    let rounds = env_number("PROVE_CRASH_ROUNDS", 5);
    let db_url = fresh_database().await;
    let t = Arc::new(ConnectTenant::new());
    add_tenant_with_cli(&db_url, &t);
    let load = send_while_killing(&db_url, &t, SERVE_VARS, rounds, 150..650).await;
    drop(load.aarc);
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    let stored: HashSet<String> =
        sqlx::query_scalar::<_, String>("SELECT event_id FROM inbox_events")
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let found = load.acked.iter().filter(|id| stored.contains(*id)).count();
    println!(
        "sent {}, acknowledged {}, found {found}, lost {}",
        load.sent,
        load.acked.len(),
        load.acked.len() - found
    );
    assert!(
        load.acked.len() > rounds,
        "the load made progress between kills"
    );
    assert_all_committed(&pool, &t.cloud_id, &load.acked).await;
}

/// What `send_while_killing` leaves: how many events were sent, the ids of
/// those acknowledged, and the aarc started after the last kill.
pub struct KilledUnderLoad {
    pub sent: usize,
    pub acked: HashSet<String>,
    pub aarc: AarcProcess,
}

/// Runs `aarc serve` with `vars` while 16 clients send events signed by `t`
/// (each naming one new object, `post_event_named`), and `rounds` times
/// kills it with SIGKILL after a random number of milliseconds in `delays`
/// (seeded by `PROVE_CRASH_SEED`) and starts it again.
pub async fn send_while_killing(
    db_url: &str,
    t: &Arc<ConnectTenant>,
    vars: &[(&str, &str)],
    rounds: usize,
    delays: std::ops::Range<u64>,
) -> KilledUnderLoad {
    let mut rng = SmallRng::seeded_from_env("PROVE_CRASH_SEED");
    let mut aarc = start_aarc_process(db_url, vars).await;
    let target = Arc::new(RwLock::new(aarc.base.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (client, t, target, stop, next) = (
            client.clone(),
            t.clone(),
            target.clone(),
            stop.clone(),
            next.clone(),
        );
        senders.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let id = format!("k-{}", next.fetch_add(1, Ordering::SeqCst));
                let base = target.read().await.clone();
                let sent = post_event_named(&client, &base, &t, &id).await;
                match sent {
                    Ok(res) if res.status().is_success() => acked.push(id),
                    // Refused or cut off by the kill: not acknowledged, so
                    // it may or may not be stored; either is correct.
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
            acked
        }));
    }
    for round in 1..=rounds {
        let delay = delays.start + rng.below((delays.end - delays.start) as usize) as u64;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        aarc.kill().await;
        println!(
            "round {round}: killed aarc after {delay} ms, {} events sent so far",
            next.load(Ordering::SeqCst)
        );
        aarc = start_aarc_process(db_url, vars).await;
        *target.write().await = aarc.base.clone();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let mut acked = HashSet::new();
    for s in senders {
        acked.extend(s.await.unwrap());
    }
    KilledUnderLoad {
        sent: next.load(Ordering::SeqCst),
        acked,
        aarc,
    }
}

/// Everything a delivery can change, as one digest per table.
async fn fingerprint(pool: &sqlx::PgPool) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for table in [
        "inbox_events",
        "blocked_objects",
        "blocked_containers",
        "tenants",
        "outbox",
    ] {
        let row: (i64, Option<String>) = sqlx::query_as(&format!(
            "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        out.push((table.to_string(), row.0, row.1.unwrap_or_default()));
    }
    out
}

/// Posts every event as `t`, from `clients` connections; the status of each.
async fn deliver(
    app: &TestApp,
    t: &ConnectTenant,
    events: Vec<String>,
    clients: usize,
) -> Vec<u16> {
    let posts = events
        .into_iter()
        .map(|body| Post {
            url: app.url(WEBHOOK),
            authorization: format!("JWT {}", t.jwt("")),
            body,
        })
        .collect();
    post_concurrently(&app.client, posts, clients)
        .await
        .into_iter()
        .map(|s| s.expect("aarc answers every request"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shuffled_replay_of_every_event_changes_nothing() {
    let n = env_number("PROVE_REPLAY_EVENTS", 10_000);
    let mut rng = SmallRng::seeded_from_env("PROVE_REPLAY_SEED");
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    // Events overlap in the objects they name, so the order of arrival
    // matters to each object's first and last event.
    let mut events: Vec<String> = (0..n)
        .map(|i| {
            let ids = [format!("r-{}", i % 4000), format!("r-{}", (i * 7) % 4000)];
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            v2_objects_event(&t.cloud_id, &ids).to_string()
        })
        .collect();
    let first = deliver(&app, &t, events.clone(), 32).await;
    assert!(
        first.iter().all(|s| *s == 202),
        "every first delivery is applied"
    );
    let before = fingerprint(&app.pool).await;
    // Fisher–Yates with the printed seed.
    for i in (1..events.len()).rev() {
        events.swap(i, rng.below(i + 1));
    }
    let again = deliver(&app, &t, events, 32).await;
    let duplicates = again.iter().filter(|s| **s == 200).count();
    println!(
        "sent {n} twice, first 202: {}, replay 200 (duplicate): {duplicates}",
        first.len()
    );
    assert_eq!(duplicates, n, "every replayed event is a duplicate");
    assert_eq!(
        fingerprint(&app.pool).await,
        before,
        "the replay changed stored state"
    );
}
