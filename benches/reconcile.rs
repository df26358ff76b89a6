//! Reconciler benchmark (issue: "Reconciler … A benchmark command").
//!
//!     cargo bench --bench reconcile
//!
//! Loads 1,000,000 blocked objects on 1,000 sites, all blocked 60 days ago
//! under a `purge` policy with a 30-day grace, then runs one pass: it hides
//! every object and makes one purge decision per site. Prints objects/s for
//! hiding and for deciding, and — as the baseline measured in the same run —
//! the rate of a bare `UPDATE … SET state` over the same rows.

mod common;

use std::time::Instant;

use common::*;

const SITES: i64 = 1000;
const PER_SITE: i64 = 1000;

async fn load(pool: &sqlx::PgPool) {
    println!(
        "loading {} blocked objects (this takes a while)…",
        SITES * PER_SITE
    );
    let t = Instant::now();
    sqlx::query(
        "INSERT INTO tenants (id, kind, tenant_key, cloud_id, shared_secret)
         SELECT gen_random_uuid(), 'connect', 'bench-' || s, 'bench-site-' || s, 'bench-secret'
         FROM generate_series(1, $1) s",
    )
    .bind(SITES)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO inbox_events (cloud_id, source, event_id, event_type, mode, tenant_id, status, raw)
         SELECT cloud_id, 'bench', 'e-' || cloud_id, 'avi:ecosystem.app_policy:blocked:app_access_to_objects.v2',
                'structured', id, 'applied', '{}'::jsonb FROM tenants",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO blocked_objects (cloud_id, product, object_type, object_id, first_blocked_at,
                                      last_blocked_at, first_inbox_id, last_inbox_id, inbox_ids)
         SELECT e.cloud_id, 'confluence', 'page', g::text, now() - interval '60 days',
                now() - interval '60 days', e.id, e.id, ARRAY[e.id]
         FROM inbox_events e, generate_series(1, $1) g",
    )
    .bind(PER_SITE)
    .execute(pool)
    .await
    .unwrap();
    raise_counters_of_loaded_sites(pool).await;
    sqlx::query("VACUUM ANALYZE").execute(pool).await.unwrap();
    println!(
        "loaded {} blocked objects on {SITES} sites in {:.1}s",
        SITES * PER_SITE,
        t.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    if !invoked_as_bench() {
        return;
    }
    let db_url = fresh_database("aarc_bench_reconcile").await;
    let pool = pool(&db_url, 4);
    aarc::store::migrate(&pool).await.unwrap();
    load(&pool).await;

    // Baseline: the bare write a hide has to do, on a copy of the same rows.
    sqlx::query("CREATE TABLE baseline AS SELECT * FROM blocked_objects")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE baseline ADD PRIMARY KEY (cloud_id, product, object_type, object_id)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("VACUUM ANALYZE baseline")
        .execute(&pool)
        .await
        .unwrap();
    let t = Instant::now();
    let n = sqlx::query("UPDATE baseline SET state = 'hidden' WHERE state = 'blocked'")
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    let baseline_rate = n as f64 / t.elapsed().as_secs_f64();
    sqlx::query("DROP TABLE baseline")
        .execute(&pool)
        .await
        .unwrap();

    let vars: std::collections::HashMap<String, String> = [
        ("DATABASE_URL", db_url.as_str()),
        ("AARC_DEFAULT_ACTION", "purge"),
        ("AARC_DEFAULT_GRACE", "30d"),
        ("AARC_DEFAULT_REVIEW", "required"),
        ("AARC_VERIFY", "off"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = aarc::config::Config::from_map(&vars).unwrap();
    let reconciler = aarc::reconcile::Reconciler::new(pool.clone(), std::sync::Arc::new(config));
    let t = Instant::now();
    let report = reconciler
        .run_pass(chrono::Utc::now(), false)
        .await
        .unwrap();
    let total = t.elapsed().as_secs_f64();
    println!("{report}");
    let hide_rate = report.hidden as f64 / report.hide_seconds;
    let decide_rate = report.decided_objects as f64 / report.decide_seconds;
    println!();
    println!("baseline: bare UPDATE of {n} rows          {baseline_rate:>10.0} objects/s");
    println!(
        "hiding:   {} objects in {:.2}s            {hide_rate:>10.0} objects/s = {:.2}x baseline (target >= 50000)",
        report.hidden,
        report.hide_seconds,
        hide_rate / baseline_rate
    );
    println!(
        "deciding: {} objects, {} decisions in {:.2}s {decide_rate:>10.0} objects/s = {:.2}x baseline (target >= 50000)",
        report.decided_objects,
        report.decisions,
        report.decide_seconds,
        decide_rate / baseline_rate
    );
    println!("whole pass: {total:.2}s");
}
