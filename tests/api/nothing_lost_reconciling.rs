//! Nothing is lost or decided twice when aarc is killed with SIGKILL while
//! its reconciler works: events arrive under load, passes run every second,
//! and the default policy purges at once without review, so every kill can
//! land in the middle of hiding, deciding, notifying the app or recording
//! its acknowledgement. Afterwards every object ends purged, under exactly
//! one decision, with each step taken once, and the app was told to purge
//! each of them. `scripts/prove.sh` runs it with more kills.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::fakes::{Answer, FakeServer};
use crate::helpers::*;
use crate::load::*;
use crate::nothing_lost::{env_number, send_while_killing};

const CALLBACK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The steps of every object under the policy below, in order.
const STEPS: [&str; 3] = ["hidden", "purging", "purged"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_reconciling_decides_each_object_once_and_purges_every_one() {
    let rounds = env_number("PROVE_CRASH_ROUNDS", 5);
    let db_url = fresh_database().await;
    let t = Arc::new(ConnectTenant::new());
    add_tenant_with_cli(&db_url, &t);
    let app = FakeServer::start(Answer::json(200, json!({})));
    let callback = format!("{}/aarc", app.url);
    let vars = [
        ("AARC_MIGRATE", "off"),
        ("AARC_RECONCILE_INTERVAL", "1s"),
        ("AARC_VERIFY", "off"),
        ("AARC_DEFAULT_ACTION", "purge"),
        ("AARC_DEFAULT_GRACE", "0s"),
        ("AARC_DEFAULT_REVIEW", "auto"),
        ("AARC_APP_CALLBACK_URL", callback.as_str()),
        ("AARC_APP_CALLBACK_SECRET", CALLBACK_SECRET),
    ];
    // Kills 0.3 to 1.5 s apart: each aarc runs one to two passes first.
    let load = send_while_killing(&db_url, &t, &vars, rounds, 300..1500).await;
    let mut last = load.aarc;
    last.kill().await; // the last one is killed too
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    crate::durability::assert_all_committed(&pool, &t.cloud_id, &load.acked).await;

    // What the kills left half done is finished by passes run later. A
    // notification claimed by a killed process stays locked for a minute
    // and a failed one is retried after 30 s: the passes pretend it is an
    // hour later, and each takes the next step.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let left_by_kills = unfinished(&pool).await;
    let mut passes = 0;
    while passes < 5 && unfinished(&pool).await > 0 {
        let pass = aarc_cli(&db_url, &["reconcile", "--once", "--now", &later], &vars);
        assert!(
            pass.status.success(),
            "{}",
            String::from_utf8_lossy(&pass.stderr)
        );
        passes += 1;
    }

    let objects = objects(&pool).await;
    let stuck: Vec<_> = objects.iter().filter(|o| o.steps != STEPS).collect();
    assert!(
        stuck.is_empty(),
        "objects whose steps are not {STEPS:?}, each once: {:?}",
        &stuck[..stuck.len().min(10)]
    );
    let decisions = decisions(&pool).await;
    for o in &objects {
        let decision = o
            .decision
            .as_deref()
            .expect("a purged object names its decision");
        assert!(decisions.contains_key(decision), "{o:?}");
    }
    for (id, (state, count, members)) in &decisions {
        assert_eq!(
            (state.as_str(), count),
            ("purged", members),
            "decision {id}: its state, and its object count against the objects naming it"
        );
    }
    let purges = purge_notifications(&app);
    let told = objects_told(&purges);
    let untold: Vec<_> = objects
        .iter()
        .filter(|o| !told.contains(&(o.decision.clone().unwrap_or_default(), o.id.clone())))
        .collect();
    assert!(
        untold.is_empty(),
        "purged without the app told: {:?}",
        &untold[..untold.len().min(10)]
    );
    println!(
        "sent {}, acknowledged {}, objects {}; after {rounds} kills {left_by_kills} objects and \
         notifications were unfinished, and {passes} later passes finished them; decisions {}, \
         each once; purge notifications {} for {} objects",
        load.sent,
        load.acked.len(),
        objects.len(),
        decisions.len(),
        purges.len(),
        told.len(),
    );
}

#[derive(Debug)]
struct Object {
    id: String,
    decision: Option<String>,
    /// The states it went to, in order.
    steps: Vec<String>,
}

async fn objects(pool: &sqlx::PgPool) -> Vec<Object> {
    let rows: Vec<(String, Option<uuid::Uuid>, Vec<String>)> = sqlx::query_as(
        "SELECT object_id, decision_id,
                ARRAY(SELECT step->>'to' FROM jsonb_array_elements(transitions) step)
         FROM blocked_objects",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, decision, steps)| Object {
            id,
            decision: decision.map(|d| d.to_string()),
            steps,
        })
        .collect()
}

/// Objects not yet purged, and notifications not yet delivered.
async fn unfinished(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM blocked_objects WHERE state <> 'purged')
              + (SELECT count(*) FROM outbox WHERE delivered_at IS NULL)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Each decision: its state, its object count, and how many objects name it.
async fn decisions(pool: &sqlx::PgPool) -> HashMap<String, (String, i64, i64)> {
    let rows: Vec<(uuid::Uuid, String, i32, i64)> = sqlx::query_as(
        "SELECT d.id, d.state, d.object_count, count(b.object_id)
         FROM decisions d LEFT JOIN blocked_objects b ON b.decision_id = d.id
         GROUP BY d.id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, state, count, members)| (id.to_string(), (state, count as i64, members)))
        .collect()
}

/// The purge notifications the app received, parsed.
fn purge_notifications(app: &FakeServer) -> Vec<Value> {
    app.recorded()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .filter(|body: &Value| body["type"] == "retention.purge")
        .collect()
}

/// (decision, object id) of every object some notification told to purge.
fn objects_told(purges: &[Value]) -> HashSet<(String, String)> {
    let mut told = HashSet::new();
    for body in purges {
        let decision = body["decisionId"].as_str().unwrap_or_default().to_string();
        for o in body["objects"].as_array().into_iter().flatten() {
            let id = o["id"].as_str().unwrap_or_default().to_string();
            told.insert((decision.clone(), id));
        }
    }
    told
}
