//! Status API benchmark (issue: "Status API … Speed").
//!
//!     cargo bench --bench status            # BENCH_SECS=10 per scenario by default
//!
//! Loads one site with 1,000,000 blocked objects and 999 sites with 1,000
//! each, then measures single-status GETs and 1000-object batch checks at 8
//! and 32 concurrent clients, through aarc over HTTP and — as the baseline
//! measured in the same run — the same lookups issued straight to PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::http1::Http1;
use common::*;
use tokio::sync::Mutex;

const BIG_SITE: &str = "bench-site-0";
const BIG: u64 = 1_000_000;
const SMALL_SITES: u64 = 999;
const SMALL: u64 = 1_000;

async fn load(db_url: &str) {
    println!(
        "loading {} blocked objects (this takes a while)…",
        BIG + SMALL_SITES * SMALL
    );
    let pool = pool(db_url, 2);
    aarc::store::migrate(&pool).await.unwrap();
    let t = Instant::now();
    // One tenant and one inbox event per site: block rows point at their cause.
    sqlx::query(
        "INSERT INTO tenants (id, kind, tenant_key, cloud_id, shared_secret)
         SELECT gen_random_uuid(), 'connect', 'bench-' || s, 'bench-site-' || s, 'bench-secret'
         FROM generate_series(0, $1) s",
    )
    .bind(SMALL_SITES as i64)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO inbox_events (cloud_id, source, event_id, event_type, mode, tenant_id, status, raw)
         SELECT cloud_id, 'bench', 'e-' || cloud_id, 'avi:ecosystem.app_policy:blocked:app_access_to_objects.v2',
                'structured', id, 'applied', '{}'::jsonb FROM tenants",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (site_filter, per_site) in [
        ("cloud_id = 'bench-site-0'", BIG),
        ("cloud_id <> 'bench-site-0'", SMALL),
    ] {
        sqlx::query(&format!(
            "INSERT INTO blocked_objects (cloud_id, product, object_type, object_id, first_blocked_at,
                                          last_blocked_at, first_inbox_id, last_inbox_id, inbox_ids)
             SELECT e.cloud_id, 'confluence', 'page', g::text, now(), now(), e.id, e.id, ARRAY[e.id]
             FROM inbox_events e, generate_series(1, {per_site}) g WHERE e.{site_filter}"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    raise_counters_of_loaded_sites(&pool).await;
    sqlx::query("VACUUM ANALYZE blocked_objects")
        .execute(&pool)
        .await
        .unwrap();
    // Write the loaded pages out now, so no checkpoint competes with the measurement.
    sqlx::query("CHECKPOINT").execute(&pool).await.unwrap();
    println!(
        "loaded {} blocked objects on {} sites in {:.1}s",
        BIG + SMALL_SITES * SMALL,
        SMALL_SITES + 1,
        t.elapsed().as_secs_f64()
    );
}

fn report(label: &str, clients: usize, objects_per_request: usize, f: &Figures) {
    println!(
        "{label:<34} clients={clients:<3} req/s={:>9.0} objects/s={:>11.0} p50={:>7.2}ms p99={:>7.2}ms errors={}",
        f.per_second(),
        f.per_second() * objects_per_request as f64,
        f.percentile_ms(0.50),
        f.percentile_ms(0.99),
        f.errors
    );
}

fn batch_ids(seed: u64) -> Vec<String> {
    (0..1000)
        .map(|i| (mix(seed * 1000 + i) % (BIG * 2)).to_string())
        .collect()
}

/// A check body for 1000 page ids, written directly (a JSON tree per
/// request would cost the load generator more than aarc's parse).
fn batch_body(seed: u64) -> String {
    let mut body = String::with_capacity(50_000);
    body.push_str("{\"objects\":[");
    for (i, id) in batch_ids(seed).iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{\"product\":\"confluence\",\"type\":\"page\",\"id\":\"");
        body.push_str(id);
        body.push_str("\"}");
    }
    body.push_str("]}");
    body
}

/// One keep-alive connection per client (`common::http1`).
async fn connections(base: &str, clients: usize) -> Arc<Vec<Mutex<Http1>>> {
    let addr = base.trim_start_matches("http://");
    let mut all = Vec::new();
    for _ in 0..clients {
        all.push(Mutex::new(
            Http1::connect(addr).await.expect("connect to aarc"),
        ));
    }
    Arc::new(all)
}

/// Checks until aarc answers the big site from memory; returns how long
/// reading its copy took (the first checks are answered by the database).
async fn warm_up(client: &reqwest::Client, base: &str) -> f64 {
    let started = Instant::now();
    loop {
        let res = client
            .post(format!("{base}/v1/sites/{BIG_SITE}/objects/check"))
            .bearer_auth("bench-token")
            .header("content-type", "application/json")
            .body(batch_body(0))
            .send()
            .await
            .unwrap();
        if res
            .headers()
            .get("aarc-answered-from")
            .is_some_and(|v| v == "memory")
        {
            return started.elapsed().as_secs_f64();
        }
        assert!(
            started.elapsed().as_secs() < 120,
            "the big site was never answered from memory"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() {
    if !invoked_as_bench() {
        return;
    }
    let secs = seconds_per_run();
    let db_url = fresh_database("aarc_bench_status").await;
    load(&db_url).await;
    let base = start_aarc(&db_url, &[("AARC_DB_POOL_SIZE", "32")]).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let db = pool(&db_url, 32);
    println!(
        "each scenario runs {}s; baseline = the same lookups sent straight to PostgreSQL",
        secs.as_secs()
    );
    println!(
        "the big site's copy for batch checks was read after {:.1}s of checks (answered by the database until then)",
        warm_up(&client, &base).await
    );
    let auth = ["Authorization: Bearer bench-token".to_string()];
    let json = [
        auth[0].clone(),
        "Content-Type: application/json".to_string(),
    ];
    let mut summary = Vec::new();
    for clients in [8usize, 32] {
        // Single status through aarc.
        let (conns, auth) = (connections(&base, clients).await, auth.clone());
        let single = closed_loop(clients, secs, move |client_no, n| {
            let (conns, auth) = (conns.clone(), auth.clone());
            async move {
                let id = mix((client_no as u64) << 32 | n) % (BIG * 2);
                let path = format!("/v1/sites/{BIG_SITE}/objects/confluence/page/{id}");
                let request = Http1::get(&path, &auth);
                matches!(conns[client_no].lock().await.send(&request).await, Ok(200))
            }
        })
        .await;
        report("aarc single status", clients, 1, &single);
        // Single lookup straight to PostgreSQL.
        let p = db.clone();
        let base_single = closed_loop(clients, secs, move |client_no, n| {
            let p = p.clone();
            async move {
                let id = (mix((client_no as u64) << 32 | n) % (BIG * 2)).to_string();
                sqlx::query("SELECT state, first_blocked_at FROM blocked_objects WHERE cloud_id = $1 AND product = 'confluence' AND object_type = 'page' AND object_id = $2")
                    .bind(BIG_SITE).bind(id).fetch_optional(&p).await.is_ok()
            }
        })
        .await;
        report("baseline postgres single lookup", clients, 1, &base_single);
        // 1000-object batch checks through aarc.
        let (conns, json) = (connections(&base, clients).await, json.clone());
        let batch = closed_loop(clients, secs, move |client_no, n| {
            let (conns, json) = (conns.clone(), json.clone());
            async move {
                let body = batch_body((client_no as u64) << 32 | n);
                let path = format!("/v1/sites/{BIG_SITE}/objects/check");
                let request = Http1::post(&path, &json, body.as_bytes());
                matches!(conns[client_no].lock().await.send(&request).await, Ok(200))
            }
        })
        .await;
        report("aarc batch check (1000 objects)", clients, 1000, &batch);
        let p = db.clone();
        let base_batch = closed_loop(clients, secs, move |client_no, n| {
            let p = p.clone();
            async move {
                let ids = batch_ids((client_no as u64) << 32 | n);
                sqlx::query(
                    "SELECT u.ord, b.state FROM UNNEST($2::text[]) WITH ORDINALITY AS u(object_id, ord)
                     LEFT JOIN blocked_objects b ON b.cloud_id = $1 AND b.product = 'confluence'
                      AND b.object_type = 'page' AND b.object_id = u.object_id ORDER BY u.ord",
                )
                .bind(BIG_SITE).bind(&ids).fetch_all(&p).await.is_ok()
            }
        })
        .await;
        report("baseline postgres batch (1000)", clients, 1000, &base_batch);
        summary.push((
            clients,
            single.per_second() / base_single.per_second(),
            batch.percentile_ms(0.99),
            single.per_second(),
            batch.per_second() / base_batch.per_second(),
        ));
    }
    println!();
    for (clients, single_ratio, batch_p99, single_rps, batch_ratio) in summary {
        println!(
            "clients={clients}: single {single_rps:.0} req/s = {single_ratio:.2}x baseline (target >= 10000 req/s); \
             batch p99 {batch_p99:.2} ms (target < 25 ms at 8 clients), throughput {batch_ratio:.2}x baseline"
        );
    }
}
