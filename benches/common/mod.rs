//! Shared by the benchmarks: a database, aarc in-process, and a closed-loop
//! load generator that records every latency.

#![allow(dead_code)]

pub mod cpu;
pub mod db_writes;
pub mod http1;

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool};

/// Runs only under `cargo bench` (which passes `--bench`); `cargo test
/// --all-targets` builds the benchmark and returns at once.
pub fn invoked_as_bench() -> bool {
    let yes = std::env::args().any(|a| a == "--bench");
    if !yes {
        println!("benchmark skipped: run it with `cargo bench --bench <name>`");
    }
    yes
}

/// How many times each measured pair (baseline, aarc) is repeated, in turn:
/// this machine's speed drifts by half within minutes, and alternating the
/// two keeps the drift out of their ratio.
pub fn rounds() -> usize {
    count_from_env("BENCH_ROUNDS", 3)
}

/// A count set by the environment variable `name`, or `default` when it is
/// unset, not a number, or 0.
pub fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

pub fn seconds_per_run() -> Duration {
    Duration::from_secs(
        std::env::var("BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    )
}

/// A fresh database named `name` on DATABASE_URL's server or the local cluster.
pub async fn fresh_database(name: &str) -> String {
    let server = match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => url,
        None => aarc::localdb::LocalDb::ensure(std::path::Path::new(".aarc"))
            .await
            .expect("local cluster")
            .url(),
    };
    let mut conn = PgConnection::connect(&server).await.expect("connect");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(name);
    url.to_string()
}

/// After loading block rows straight into the table: gives every site with
/// blocks a change counter, as aarc's own block writes do in their statement
/// (migration 20261202000004); the reconciler scans only sites that have one.
pub async fn raise_counters_of_loaded_sites(pool: &PgPool) {
    sqlx::query(
        "INSERT INTO status_versions (cloud_id, backend, version)
         SELECT DISTINCT cloud_id, 0, 1 FROM blocked_objects
         ON CONFLICT (cloud_id, backend) DO UPDATE SET version = status_versions.version + 1",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// Starts aarc on a random port; returns its base URL.
pub async fn start_aarc(db_url: &str, extra: &[(&str, &str)]) -> String {
    let mut vars: std::collections::HashMap<String, String> = [
        ("DATABASE_URL", db_url),
        ("AARC_SERVICE_TOKENS", "bench:bench-token"),
        ("AARC_OPERATOR_TOKENS", "ops:ops-token"),
        ("AARC_RECONCILER", "off"),
        ("AARC_LOG_FORMAT", "json"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let config = aarc::config::Config::from_map(&vars).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = aarc::startup::Application::build_with_listener(config, listener)
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    url
}

pub struct Figures {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Figures {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The figures of several runs as one: requests and time added up,
    /// latencies pooled.
    pub fn combined(runs: &[Figures]) -> Figures {
        let mut latencies_us: Vec<u64> = runs
            .iter()
            .flat_map(|r| r.latencies_us.iter().copied())
            .collect();
        latencies_us.sort_unstable();
        Figures {
            requests: runs.iter().map(|r| r.requests).sum(),
            errors: runs.iter().map(|r| r.errors).sum(),
            elapsed: runs.iter().map(|r| r.elapsed).sum(),
            latencies_us,
        }
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

/// `clients` tasks each run `op` back to back for `duration`.
pub async fn closed_loop<F, Fut>(clients: usize, duration: Duration, op: F) -> Figures
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut n = 0u64;
            while start.elapsed() < duration {
                let t = Instant::now();
                if op(client, n).await {
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
                n += 1;
            }
            (lat, errors)
        }));
    }
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.unwrap();
        latencies_us.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed();
    latencies_us.sort_unstable();
    Figures {
        requests: latencies_us.len(),
        errors,
        elapsed,
        latencies_us,
    }
}

pub fn pool(url: &str, size: u32) -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(size)
        .connect_lazy(url)
        .unwrap()
}

/// Cheap deterministic pseudo-random numbers (no extra dependency).
pub fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}
