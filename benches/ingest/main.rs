//! Ingest benchmark (issue: "Prove it … Speed").
//!
//!     cargo bench --bench ingest   # BENCH_SECS=10 per run, BENCH_ROUNDS=3
//!
//! In one run on the same database server, each pair alternated
//! `BENCH_ROUNDS` times (this machine's speed drifts within minutes):
//! 1. the baseline: pgbench, 32 clients, one single-row INSERT per
//!    transaction into a table shaped like the inbox; then `aarc serve` (the
//!    release binary, as its own process) receiving signed, distinct v2
//!    events of one object each from 32 concurrent connections;
//! 2. bare 10,000-row INSERTs into a copy of `blocked_objects`; then aarc
//!    receiving events of 10,000 object ids each, in objects/s.
//!
//! Prints each round and the totals: both throughputs, their ratio, aarc's
//! p50/p99 latency and its peak RSS (VmHWM), against the targets.
//!
//! To compare a change or a setting in the same run, name a second aarc:
//! `BENCH_COMPARE_BIN=/path/to/other/aarc` and/or `BENCH_COMPARE_ENV="AARC_X=1
//! AARC_Y=2"` start it beside the first; each round then drives both and
//! prints the second's figures and its ratio to the first's.
//!
//! `BENCH_PHASES=single` or `BENCH_PHASES=large` runs one of the two phases;
//! `BENCH_LARGE_CLIENTS` (default 4) sets the large-event phase's connections.

#[path = "../common/mod.rs"]
mod common;
mod load;
mod pgbench;
mod phases;
// Shared with the integration tests, which use other parts of it.
#[allow(dead_code)]
#[path = "../../tests/shared/aarc_process.rs"]
mod aarc_process;

use aarc_process::AarcProcess;
use common::*;
use phases::{large_phase, single_phase, Phases, Setting};

const CLIENTS: usize = 32;
/// Connections posting large events (and running bare inserts), unless
/// `BENCH_LARGE_CLIENTS` says otherwise.
const LARGE_CLIENTS: usize = 4;
const LARGE_IDS: usize = 10_000;
const CLOUD_ID: &str = "7f3c2b1a-0d4e-4c5f-9a8b-1e2d3c4b5a69";
const CLIENT_KEY: &str = "bench-ingest";
const SECRET: &str = "bench-ingest-shared-secret-of-some-length";
const V2: &str = "avi:ecosystem.app_policy:blocked:app_access_to_objects.v2";

// One thread drives all connections, as pgbench's one thread drives its 32
// clients: on two cores a second load-generating thread takes CPU from what
// is measured, and its hand-offs between threads cost more than they save.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    if !invoked_as_bench() {
        return;
    }
    load::check_event_body();
    let secs = seconds_per_run();
    let db_url = fresh_database("aarc_bench_ingest").await;
    let db = pool(&db_url, 2);
    aarc::store::migrate(&db).await.unwrap();
    pgbench::create_table(&db).await;
    sqlx::query(
        "INSERT INTO tenants (id, kind, tenant_key, cloud_id, shared_secret, base_url)
         VALUES (gen_random_uuid(), 'connect', $1, $2, $3, 'https://bench.atlassian.net')",
    )
    .bind(CLIENT_KEY)
    .bind(CLOUD_ID)
    .bind(SECRET)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query("CREATE TABLE bench_objects (LIKE blocked_objects INCLUDING ALL)")
        .execute(&db)
        .await
        .unwrap();

    let rounds = rounds();
    println!(
        "each run lasts {}s; baseline and aarc alternate {rounds} times",
        secs.as_secs()
    );
    let aarc = AarcProcess::start(
        env!("CARGO_BIN_EXE_aarc"),
        &db_url,
        &[("AARC_RECONCILER", "off")],
    )
    .await;
    let second = Comparison::from_env(&db_url).await;
    let phases = Phases::from_env();
    let setting = Setting {
        db: &db,
        db_url: &db_url,
        aarc: &aarc,
        second: second.as_ref(),
        rounds,
        secs,
    };
    let single = match phases.single {
        true => Some(single_phase(&setting).await),
        false => None,
    };
    let second_groups = match &second {
        Some(second) if single.is_some() => Some(group_sizes(&second.process.base).await),
        _ => None,
    };
    let large = match phases.large {
        true => Some(large_phase(&setting, large_clients()).await),
        false => None,
    };
    let rss = peak_rss_mib(aarc.pid());
    let groups = group_sizes(&aarc.base).await;
    drop(aarc);

    println!();
    println!("over {rounds} rounds of {}s each:", secs.as_secs());
    let mut errors = 0;
    // A phase not run (BENCH_PHASES) has no figures to print.
    if let Some(single) = &single {
        let events = single.aarc.per_second();
        println!(
            "ingest {events:.0} events/s = {:.2}x the pgbench baseline of {:.0} tps (target >= 1.0x)",
            events / single.baseline,
            single.baseline
        );
        println!(
            "p99 {:.2} ms at {CLIENTS} connections (target < 25 ms); p50 {:.2} ms",
            single.aarc.percentile_ms(0.99),
            single.aarc.percentile_ms(0.5)
        );
        if let (Some(second), Some(groups)) = (&second, &second_groups) {
            let figures = Figures::combined(&single.second);
            println!(
                "the second aarc ({}): {:.0} events/s = {:.2}x the first, p99 {:.2} ms; {groups}",
                second.name,
                figures.per_second(),
                figures.per_second() / events,
                figures.percentile_ms(0.99)
            );
        }
        errors += single.aarc.errors;
    }
    println!("peak RSS of aarc {rss:.1} MiB (target < 100 MiB)");
    println!("{groups}");
    if let Some(large) = &large {
        let objects_per_second = large.aarc.per_second() * LARGE_IDS as f64;
        let bare_rows = large.bare.per_second() * LARGE_IDS as f64;
        println!(
            "large events: {objects_per_second:.0} objects/s = {:.2}x bare inserts of {bare_rows:.0} rows/s (target >= 200000 objects/s)",
            objects_per_second / bare_rows
        );
        if !large.second.is_empty() {
            let second = Figures::combined(&large.second).per_second() * LARGE_IDS as f64;
            println!(
                "the second aarc's large events: {second:.0} objects/s = {:.2}x the first",
                second / objects_per_second
            );
        }
        errors += large.aarc.errors;
    }
    if errors > 0 {
        println!("WARNING: {errors} requests were not answered 202");
    }
}

fn large_clients() -> usize {
    count_from_env("BENCH_LARGE_CLIENTS", LARGE_CLIENTS)
}

/// How many events aarc's transactions held on average, from its /metrics.
async fn group_sizes(base: &str) -> String {
    let text = match reqwest::get(format!("{base}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => return format!("/metrics unavailable: {e}"),
    };
    let figure = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let (sum, count) = (
        figure("aarc_ingest_batch_events_sum "),
        figure("aarc_ingest_batch_events_count "),
    );
    format!(
        "{count:.0} ingest transactions, {:.1} events each on average (group commit)",
        sum / count
    )
}

/// The kernel's high-water mark of the process's resident memory, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The second aarc of `BENCH_COMPARE_BIN` / `BENCH_COMPARE_ENV`, if named.
pub struct Comparison {
    pub name: String,
    pub process: AarcProcess,
}

impl Comparison {
    async fn from_env(db_url: &str) -> Option<Self> {
        let binary = std::env::var("BENCH_COMPARE_BIN").ok();
        let vars = std::env::var("BENCH_COMPARE_ENV").ok();
        if binary.is_none() && vars.is_none() {
            return None;
        }
        let vars = vars.unwrap_or_default();
        let mut settings: Vec<(&str, &str)> = vec![("AARC_RECONCILER", "off")];
        for pair in vars.split_whitespace() {
            let (name, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("BENCH_COMPARE_ENV: {pair:?} is not NAME=value"));
            settings.push((name, value));
        }
        let binary = binary.unwrap_or_else(|| env!("CARGO_BIN_EXE_aarc").to_string());
        let name = format!("{binary} {vars}").trim().to_string();
        let process = AarcProcess::start(&binary, db_url, &settings).await;
        Some(Self { name, process })
    }
}
