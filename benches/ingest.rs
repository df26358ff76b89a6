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
//! p50/p99 latency and its peak RSS (VmHWM), against the issue's targets.
//!
//! To compare a change or a setting in the same run, name a second aarc:
//! `BENCH_COMPARE_BIN=/path/to/other/aarc` and/or `BENCH_COMPARE_ENV="AARC_X=1
//! AARC_Y=2"` start it beside the first; each round then drives both and
//! prints the second's figures and its ratio to the first's.
//!
//! `BENCH_PHASES=single` or `BENCH_PHASES=large` runs one of the two phases;
//! `BENCH_LARGE_CLIENTS` (default 4) sets the large-event phase's connections.

mod common;
// Shared with the integration tests, which use other parts of it.
#[allow(dead_code)]
#[path = "../tests/shared/aarc_process.rs"]
mod aarc_process;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aarc_process::AarcProcess;
use common::cpu::CpuUse;
use common::db_writes::DbWrites;
use common::http1::Http1;
use common::*;
use secrecy::SecretString;

const CLIENTS: usize = 32;
/// Connections posting large events (and running bare inserts), unless
/// `BENCH_LARGE_CLIENTS` says otherwise.
const LARGE_CLIENTS: usize = 4;
const LARGE_IDS: usize = 10_000;
const CLOUD_ID: &str = "7f3c2b1a-0d4e-4c5f-9a8b-1e2d3c4b5a69";
const CLIENT_KEY: &str = "bench-ingest";
const SECRET: &str = "bench-ingest-shared-secret-of-some-length";
const V2: &str = "avi:ecosystem.app_policy:blocked:app_access_to_objects.v2";

/// pgbench's own figure: one INSERT per transaction, `clients` connections.
fn pgbench(db_url: &str, clients: usize, secs: Duration) -> f64 {
    let script = std::env::temp_dir().join(format!("aarc-bench-ingest-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        "INSERT INTO bench_inbox (cloud_id, source, event_id, event_type, raw) \
         VALUES ('site', 'atlassian.com/ecosystem', gen_random_uuid()::text, 'v2', '{\"ids\": [\"1\"]}');\n",
    )
    .unwrap();
    let out = std::process::Command::new(pgbench_binary())
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
        ])
        .arg(secs.as_secs().to_string())
        .arg("-f")
        .arg(&script)
        .arg(db_url)
        .output()
        .expect("pgbench runs");
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in text.lines() {
        print_indented("pgbench", line);
    }
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .expect("pgbench printed its tps")
}

fn print_indented(who: &str, line: &str) {
    if line.starts_with("tps") || line.starts_with("latency") || line.contains("processed") {
        println!("  {who}: {line}");
    }
}

/// pgbench beside the server binaries (Debian's layout) or on PATH.
fn pgbench_binary() -> std::path::PathBuf {
    let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("bin/pgbench"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| "pgbench".into())
}

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
fn check_event_body() {
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
async fn drive(
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
async fn bare_inserts(db_url: &str, run: usize, clients: usize, secs: Duration) -> Figures {
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

/// Brings the server to the same state before every measured phase: the
/// rows the previous phase wrote are vacuumed and its dirty pages written
/// out, so neither side pays for the other's autovacuum or checkpoint. (Left
/// to themselves they ran during the next phase: a second copy of the same
/// aarc measured 1.08x the first, which ran right after pgbench.)
async fn settle(db: &sqlx::PgPool) {
    for statement in [
        "VACUUM (ANALYZE) bench_inbox, inbox_events, blocked_objects, bench_objects, status_versions",
        "CHECKPOINT",
    ] {
        if let Err(e) = sqlx::query(statement).execute(db).await {
            // CHECKPOINT needs a superuser or pg_checkpoint: run without it.
            println!("  (settling: {statement} failed: {e})");
        }
    }
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

// One thread drives all connections, as pgbench's one thread drives its 32
// clients: on two cores a second load-generating thread takes CPU from what
// is measured, and its hand-offs between threads cost more than they save.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    if !invoked_as_bench() {
        return;
    }
    check_event_body();
    let secs = seconds_per_run();
    let db_url = fresh_database("aarc_bench_ingest").await;
    let db = pool(&db_url, 2);
    aarc::store::migrate(&db).await.unwrap();
    // Shaped like the inbox: its key columns compare bytes (COLLATE "C"),
    // and the event is kept as text.
    sqlx::query(
        r#"CREATE TABLE bench_inbox (id bigserial PRIMARY KEY, cloud_id text COLLATE "C" NOT NULL,
            source text COLLATE "C" NOT NULL, event_id text COLLATE "C" NOT NULL,
            event_type text NOT NULL, raw text NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(), UNIQUE (cloud_id, source, event_id))"#,
    )
    .execute(&db)
    .await
    .unwrap();
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
    let other = Comparison::from_env(&db_url).await;
    let phases = Phases::from_env();
    let (mut baselines, mut singles, mut others) = (Vec::new(), Vec::new(), Vec::new());
    for round in (1..=rounds).filter(|_| phases.single) {
        // Whichever runs later in a round measured faster (a second copy of
        // the same aarc ran 1.04-1.08x the first, which followed pgbench), so
        // the order reverses every round: odd rounds run pgbench, aarc, then
        // the second aarc; even rounds the second aarc, aarc, then pgbench.
        // No side always takes the same place.
        let aarc_first = round % 2 == 0;
        let mut other_figures = None;
        let mut single = None;
        if aarc_first {
            if let Some(other) = &other {
                other_figures = Some(other_round(&db, other, round, secs).await);
            }
            single = Some(single_round(&db, &aarc, round, secs).await);
        }
        println!(
            "round {round}: pgbench, {CLIENTS} clients, one single-row INSERT per transaction"
        );
        settle(&db).await;
        baselines.push(pgbench(&db_url, CLIENTS, secs));
        let (single, cpu) = match single {
            Some(done) => done,
            None => single_round(&db, &aarc, round, secs).await,
        };
        println!(
            "  aarc (round {round}, {}): {:.0} events/s = {:.2}x, p50 {:.2} ms, p99 {:.2} ms, errors {}\n  {cpu}",
            if aarc_first { "before pgbench" } else { "after pgbench" },
            single.per_second(),
            single.per_second() / baselines[round - 1],
            single.percentile_ms(0.5),
            single.percentile_ms(0.99),
            single.errors
        );
        if let Some(other) = &other {
            let (figures, cpu) = match other_figures {
                Some(done) => done,
                None => other_round(&db, other, round, secs).await,
            };
            println!(
                "  second aarc ({}): {:.0} events/s = {:.2}x the first, p50 {:.2} ms, p99 {:.2} ms, errors {}\n  {cpu}",
                if aarc_first { "before the first" } else { "after the first" },
                figures.per_second(),
                figures.per_second() / single.per_second(),
                figures.percentile_ms(0.5),
                figures.percentile_ms(0.99),
                figures.errors
            );
            others.push(figures);
        }
        singles.push(single);
    }
    let baseline = baselines.iter().sum::<f64>() / baselines.len() as f64;
    let single = Figures::combined(&singles);
    let compared = match &other {
        Some(other) if !others.is_empty() => {
            let groups = group_sizes(&other.process.base).await;
            Some((other.name.clone(), Figures::combined(&others), groups))
        }
        _ => None,
    };

    let (mut bares, mut larges, mut other_larges) = (Vec::new(), Vec::new(), Vec::new());
    let large_clients = large_clients();
    for round in (1..=rounds).filter(|_| phases.large) {
        println!(
            "round {round}: {large_clients} connections, each a bare INSERT of {LARGE_IDS} rows into a copy of blocked_objects"
        );
        settle(&db).await;
        let bare = bare_inserts(&db_url, round, large_clients, secs);
        let (bare, costs) = with_costs(&db, &aarc, "row", bare).await;
        println!(
            "  postgres: {:.0} rows/s\n  {costs}",
            bare.per_second() * LARGE_IDS as f64
        );
        bares.push(bare);
        // With a second aarc, the two take turns going first, as above.
        let (second_aarc, db_ref) = (other.as_ref(), &db);
        let second_round = move || async move {
            match second_aarc {
                Some(o) => {
                    let run = round + 1000;
                    let figures =
                        large_round(db_ref, &o.process, "second aarc", run, large_clients, secs);
                    Some(figures.await)
                }
                None => None,
            }
        };
        let (large, second) = if round % 2 == 0 {
            let second = second_round().await;
            (
                large_round(&db, &aarc, "aarc", round, large_clients, secs).await,
                second,
            )
        } else {
            let large = large_round(&db, &aarc, "aarc", round, large_clients, secs).await;
            (large, second_round().await)
        };
        if let Some(second) = second {
            println!(
                "  second aarc: {:.2}x the first",
                second.per_second() / large.per_second()
            );
            other_larges.push(second);
        }
        larges.push(large);
    }
    let (bare, large) = (Figures::combined(&bares), Figures::combined(&larges));
    let objects_per_second = large.per_second() * LARGE_IDS as f64;
    let bare_rows = bare.per_second() * LARGE_IDS as f64;
    let rss = peak_rss_mib(aarc.pid());
    let groups = group_sizes(&aarc.base).await;
    drop(aarc);

    println!();
    println!("over {rounds} rounds of {}s each:", secs.as_secs());
    // A phase not run (BENCH_PHASES) has no figures to print.
    if phases.single {
        println!(
            "ingest {:.0} events/s = {:.2}x the pgbench baseline of {baseline:.0} tps (target >= 1.0x)",
            single.per_second(),
            single.per_second() / baseline
        );
        println!(
            "p99 {:.2} ms at {CLIENTS} connections (target < 25 ms); p50 {:.2} ms",
            single.percentile_ms(0.99),
            single.percentile_ms(0.5)
        );
        if let Some((name, figures, groups)) = &compared {
            println!(
                "the second aarc ({name}): {:.0} events/s = {:.2}x the first, p99 {:.2} ms; {groups}",
                figures.per_second(),
                figures.per_second() / single.per_second(),
                figures.percentile_ms(0.99)
            );
        }
    }
    println!("peak RSS of aarc {rss:.1} MiB (target < 100 MiB)");
    println!("{groups}");
    if phases.large {
        println!(
            "large events: {objects_per_second:.0} objects/s = {:.2}x bare inserts of {bare_rows:.0} rows/s (target >= 200000 objects/s)",
            objects_per_second / bare_rows
        );
        if !other_larges.is_empty() {
            let second = Figures::combined(&other_larges).per_second() * LARGE_IDS as f64;
            println!(
                "the second aarc's large events: {second:.0} objects/s = {:.2}x the first",
                second / objects_per_second
            );
        }
    }
    if single.errors + large.errors > 0 {
        println!(
            "WARNING: {} requests were not answered 202",
            single.errors + large.errors
        );
    }
}

fn large_clients() -> usize {
    count_from_env("BENCH_LARGE_CLIENTS", LARGE_CLIENTS)
}

/// Which measured phases run: both by default; `BENCH_PHASES=single` or
/// `BENCH_PHASES=large` runs one of them, to study it quicker.
struct Phases {
    single: bool,
    large: bool,
}

impl Phases {
    fn from_env() -> Self {
        let chosen = std::env::var("BENCH_PHASES").unwrap_or_default();
        let named = |phase: &str| chosen.split(',').any(|p| p.trim() == phase);
        if chosen.trim().is_empty() {
            return Self {
                single: true,
                large: true,
            };
        }
        let phases = Self {
            single: named("single"),
            large: named("large"),
        };
        assert!(
            phases.single || phases.large,
            "BENCH_PHASES={chosen:?} names no phase: use single, large or both (single,large)"
        );
        phases
    }
}

/// Runs a large-event `phase` (requests of `LARGE_IDS` objects or rows
/// each) and says what it cost: CPU per request of aarc, PostgreSQL and the
/// load generator, and what PostgreSQL wrote per `item`.
async fn with_costs(
    db: &sqlx::PgPool,
    aarc: &AarcProcess,
    item: &str,
    phase: impl std::future::Future<Output = Figures>,
) -> (Figures, String) {
    let (cpu_before, writes_before) = (CpuUse::now(aarc.pid()), DbWrites::now(db).await);
    let figures = phase.await;
    let requests = figures.requests as u64;
    let cpu = CpuUse::now(aarc.pid()).per_request(&cpu_before, requests);
    let writes =
        DbWrites::now(db)
            .await
            .per_item(&writes_before, requests * LARGE_IDS as u64, item);
    (figures, format!("{cpu}\n  {writes}"))
}

/// One round of large events against `aarc`, printed as it ends.
async fn large_round(
    db: &sqlx::PgPool,
    aarc: &AarcProcess,
    name: &str,
    run: usize,
    clients: usize,
    secs: Duration,
) -> Figures {
    println!("{name}: {clients} connections posting events of {LARGE_IDS} object ids each");
    settle(db).await;
    let large = drive(&aarc.base, run, clients, secs, LARGE_IDS);
    let (large, costs) = with_costs(db, aarc, "object", large).await;
    println!(
        "  {name}: {:.1} events/s = {:.0} objects/s, p50 {:.1} ms, p99 {:.1} ms, errors {}\n  {costs}",
        large.per_second(),
        large.per_second() * LARGE_IDS as f64,
        large.percentile_ms(0.5),
        large.percentile_ms(0.99),
        large.errors
    );
    large
}

/// One round of one-object events against `aarc`: its figures and CPU use.
async fn single_round(
    db: &sqlx::PgPool,
    aarc: &AarcProcess,
    round: usize,
    secs: Duration,
) -> (Figures, String) {
    println!(
        "round {round}: aarc, {CLIENTS} connections posting signed v2 events of one object each"
    );
    settle(db).await;
    let cpu_before = CpuUse::now(aarc.pid());
    let single = drive(&aarc.base, round, CLIENTS, secs, 1).await;
    let cpu = CpuUse::now(aarc.pid()).per_request(&cpu_before, single.requests as u64);
    (single, cpu)
}

/// One round of one-object events against the second aarc.
async fn other_round(
    db: &sqlx::PgPool,
    other: &Comparison,
    round: usize,
    secs: Duration,
) -> (Figures, String) {
    println!("round {round}: the second aarc ({}), as above", other.name);
    settle(db).await;
    let cpu_before = CpuUse::now(other.process.pid());
    let figures = drive(&other.process.base, round + 1000, CLIENTS, secs, 1).await;
    let cpu = CpuUse::now(other.process.pid()).per_request(&cpu_before, figures.requests as u64);
    (figures, cpu)
}

/// The second aarc of `BENCH_COMPARE_BIN` / `BENCH_COMPARE_ENV`, if named.
struct Comparison {
    name: String,
    process: AarcProcess,
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
