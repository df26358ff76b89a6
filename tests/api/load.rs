//! For tests that run `aarc serve` as its own process and put load on it:
//! starting it, registering a tenant through the CLI, posting many events
//! from many connections, and a small seeded random generator.

use std::sync::{Arc, Mutex};

use crate::helpers::{v2_objects_event, ConnectTenant, WEBHOOK};

// Shared with the ingest benchmark, which use other parts of it.
#[allow(dead_code)]
#[path = "../shared/aarc_process.rs"]
mod aarc_process;
pub use aarc_process::AarcProcess;

/// Runs this build's `aarc` with `args` against `db_url`, with `vars` set
/// besides; returns what it printed and how it exited.
pub fn aarc_cli(db_url: &str, args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aarc"))
        .args(args)
        .env("DATABASE_URL", db_url)
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

/// Registers a Connect tenant with `aarc tenants add`.
pub fn add_tenant_with_cli(db_url: &str, t: &ConnectTenant) {
    let add = aarc_cli(
        db_url,
        &[
            "tenants",
            "add",
            "--client-key",
            &t.client_key,
            "--shared-secret",
            &t.secret,
            "--base-url",
            &t.base_url,
            "--cloud-id",
            &t.cloud_id,
        ],
        &[],
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
}

/// Starts this build's `aarc serve` (see `AarcProcess::start`).
pub async fn start_aarc_process(db_url: &str, vars: &[(&str, &str)]) -> AarcProcess {
    AarcProcess::start(env!("CARGO_BIN_EXE_aarc"), db_url, vars).await
}

/// Posts, signed by `t`, a structured event whose id is `id` and which
/// blocks the object `id`: load tests then check each acknowledged id in
/// both the inbox and the block table.
pub async fn post_event_named(
    client: &reqwest::Client,
    base: &str,
    t: &ConnectTenant,
    id: &str,
) -> reqwest::Result<reqwest::Response> {
    let mut event = v2_objects_event(&t.cloud_id, &[id]);
    event["id"] = serde_json::Value::String(id.to_string());
    client
        .post(format!("{base}{WEBHOOK}"))
        .header("Authorization", format!("JWT {}", t.jwt("")))
        .header("Content-Type", "application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await
}

/// One structured-mode CloudEvent to post.
pub struct Post {
    pub url: String,
    pub authorization: String,
    pub body: String,
}

/// Posts everything from `clients` connections at once; the status of each
/// post in the order given (`None` when the request itself failed).
pub async fn post_concurrently(
    client: &reqwest::Client,
    posts: Vec<Post>,
    clients: usize,
) -> Vec<Option<u16>> {
    let total = posts.len();
    let queue = Arc::new(Mutex::new(
        posts.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (queue, client) = (queue.clone(), client.clone());
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            loop {
                let Some((i, post)) = queue.lock().unwrap().pop() else {
                    return answers;
                };
                let status = client
                    .post(post.url)
                    .header("Authorization", post.authorization)
                    .header("Content-Type", "application/cloudevents+json")
                    .body(post.body)
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16());
                answers.push((i, status));
            }
        }));
    }
    let mut statuses = vec![None; total];
    for w in workers {
        for (i, status) in w.await.unwrap() {
            statuses[i] = status;
        }
    }
    statuses
}

/// A small deterministic generator (xorshift), so a failing run can be
/// repeated from its seed.
pub struct SmallRng(u64);

/// A setting of the tests themselves, read from the environment. Never
/// named `AARC_…`: the aarc processes the tests start inherit the
/// environment, and aarc refuses to start with an `AARC_` setting it does
/// not know (so `scripts/prove.sh` failed while its sizes were named so).
pub fn test_knob(name: &str) -> Option<String> {
    assert!(
        !name.starts_with("AARC_"),
        "{name}: test settings must not use aarc's AARC_ prefix"
    );
    std::env::var(name).ok()
}

impl SmallRng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1) // xorshift never leaves 0
    }

    /// Seeded from the variable `name` when set, else from the clock; the
    /// seed is printed so that a failure can be repeated.
    pub fn seeded_from_env(name: &str) -> Self {
        let seed = test_knob(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("{name}={seed}");
        Self::new(seed)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}
