//! No input breaks it: random and mutated bodies, headers and content types
//! never panic a parser, never get a 5xx while the database is up, and never
//! leave a trace unless the event was valid and correctly signed.
//! `PROPTEST_CASES` sets the number of cases (10,000 by default; more with
//! `scripts/prove.sh`).

use std::collections::HashSet;

use aarc::ingest::auth::{connect, qsh};
use aarc::ingest::{envelope, events};
use aarc::Error;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::load::SmallRng;

const FIXTURE_SITE: &str = "a436116f-02ce-4520-8fbb-7301462a1674";
const FIXTURE_BASE_URL: &str = "https://acme-fixtures.atlassian.net";

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// The bodies of every valid fixture: the seeds the mutations start from.
fn seeds() -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir("fixtures/valid")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// A JSON value of any type, small.
fn random_value(c: &mut SmallRng) -> Value {
    match c.below(9) {
        0 => Value::Null,
        1 => json!(c.below(2) == 1),
        2 => json!(c.below(1_000_000) as i64 - 500_000),
        3 => json!(1e308 * 10.0_f64.min(c.below(3) as f64)),
        4 => json!(""),
        5 => json!("x".repeat(c.below(300))),
        6 => json!([]),
        7 => json!({}),
        _ => json!(["\u{0000}", "\u{FFFD}", "ü", "../", "%00"][c.below(5)]),
    }
}

/// Replaces, removes or adds something somewhere in the tree.
fn mutate_value(v: &mut Value, c: &mut SmallRng) {
    match v {
        Value::Object(map) if !map.is_empty() && c.below(4) != 0 => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[c.below(keys.len())];
            match c.below(4) {
                0 => {
                    map.remove(key);
                }
                1 => {
                    map.insert(key.clone(), random_value(c));
                }
                2 => {
                    map.insert(format!("{key}{}", c.below(10)), random_value(c));
                }
                _ => mutate_value(map.get_mut(key).unwrap(), c),
            }
        }
        Value::Array(items) if !items.is_empty() && c.below(4) != 0 => {
            let i = c.below(items.len());
            match c.below(3) {
                0 => {
                    items.remove(i);
                }
                1 => items.push(items[i].clone()),
                _ => mutate_value(&mut items[i], c),
            }
        }
        other => *other = random_value(c),
    }
}

/// A body: a fixture mutated as JSON, as bytes, or random bytes. Every choice
/// comes from one proptest-chosen seed, so a failing case shrinks to a small
/// seed and repeats exactly.
fn body_from(seed: u64, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut c = SmallRng::new(seed);
    let base = &seeds[c.below(seeds.len())];
    match c.below(6) {
        0 => base.clone(),
        1..=3 => {
            let mut v: Value = serde_json::from_slice(base).unwrap();
            for _ in 0..=c.below(3) {
                mutate_value(&mut v, &mut c);
            }
            v.to_string().into_bytes()
        }
        4 => {
            let mut bytes = base.clone();
            for _ in 0..=c.below(4) {
                let i = c.below(bytes.len());
                match c.below(3) {
                    0 => bytes[i] = c.below(256) as u8,
                    1 => bytes.truncate(i),
                    _ => bytes.insert(i, b"{[\"\\,:}]"[c.below(8)]),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            bytes
        }
        _ => (0..c.below(200)).map(|_| c.below(256) as u8).collect(),
    }
}

fn content_type_from(choice: usize, noise: &str, body: &[u8]) -> Option<String> {
    match choice % 8 {
        0 => None,
        // Mostly the type that fits the body, so mutated events get past the
        // envelope and reach the event parser and the store.
        1..=3 => Some(aarc::commands::send::content_type_of(body).into()),
        4 => Some("text/plain".into()),
        5 => Some(format!("application/{noise}")),
        6 => Some(noise.to_string()),
        _ => Some("application/json; charset=\"utf-8\"; x=".into()),
    }
}

fn ce_headers_from(choice: usize, noise: &str) -> Vec<(String, String)> {
    match choice % 6 {
        0..=2 => vec![],
        3 => vec![
            ("ce-specversion".into(), "1.0".into()),
            ("ce-id".into(), noise.into()),
            ("ce-source".into(), "atlassian.com/ecosystem".into()),
            (
                "ce-type".into(),
                "avi:ecosystem.app_policy:blocked:app_access_to_objects.v2".into(),
            ),
        ],
        4 => vec![("ce-specversion".into(), noise.into())],
        _ => vec![(format!("ce-{noise}"), noise.into())],
    }
}

/// Errors a bad input may give: each maps to a 4xx.
fn is_client_error(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidRequest(_)
            | Error::Unauthorized(_)
            | Error::PayloadTooLarge(_)
            | Error::UnsupportedMediaType(_)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_envelope_and_event_parsers_never_panic(
        seed in any::<u64>(),
        ct in any::<usize>(),
        ce in any::<usize>(),
        noise in "[ -~]{0,40}",
    ) {
        let seeds = seeds();
        let body = body_from(seed, &seeds);
        let content_type = content_type_from(ct, &noise, &body);
        match envelope::parse(content_type.as_deref(), &ce_headers_from(ce, &noise), &body) {
            Ok(env) => {
                for e in env.events {
                    if let Err(err) = events::parse(e, env.strict) {
                        prop_assert!(is_client_error(&err), "{err:?}");
                    }
                }
            }
            Err(err) => prop_assert!(is_client_error(&err), "{err:?}"),
        }
    }

    #[test]
    fn token_and_query_parsers_never_panic(
        token in "[A-Za-z0-9_.=-]{0,300}",
        query in "[ -~]{0,120}",
        path in "/[ -~]{0,60}",
    ) {
        let _ = connect::unverified_issuer(&token);
        let secret = secrecy::SecretString::from("s".repeat(32));
        if let Err(err) = connect::verify(&token, &secret, "POST", &path, &query) {
            prop_assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
        }
        let _ = qsh::canonical_request("POST", &path, &query);
    }
}

/// One generated request to the webhook route.
#[derive(Debug)]
struct Case {
    body: Vec<u8>,
    content_type: Option<String>,
    ce_headers: Vec<(String, String)>,
    auth: usize,
    query: String,
}

fn generate_cases(n: u32) -> Vec<Case> {
    let seeds = seeds();
    let strategy = (
        any::<u64>(),
        any::<usize>(),
        any::<usize>(),
        "[ -~]{0,40}",
        any::<usize>(),
        prop_oneof![3 => Just(String::new()), 1 => "[a-z=&]{1,12}"],
    );
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| {
            let (seed, ct, ce, noise, auth, query) =
                strategy.new_tree(&mut runner).unwrap().current();
            let body = body_from(seed, &seeds);
            Case {
                content_type: content_type_from(ct, &noise, &body),
                body,
                ce_headers: ce_headers_from(ce, &noise),
                auth,
                query,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_route_never_gives_5xx_and_keeps_only_signed_valid_events() {
    let app = spawn_app().await;
    let t = ConnectTenant {
        client_key: "never-breaks-tenant".into(),
        secret: "a-shared-secret-of-enough-length".into(),
        cloud_id: FIXTURE_SITE.into(),
        base_url: FIXTURE_BASE_URL.into(),
    };
    app.register(&t).await;
    let other = ConnectTenant::new();
    app.register(&other).await;
    let cases = generate_cases(cases());
    let total = cases.len();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(cases));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (queue, client, url) = (queue.clone(), app.client.clone(), app.url(WEBHOOK));
        let (signed, foreign) = (t.jwt(""), other.jwt(""));
        workers.push(tokio::spawn(async move {
            // (status, event ids the answer reports as stored)
            let mut answers: Vec<(u16, Vec<String>, String)> = Vec::new();
            loop {
                let Some(case) = queue.lock().unwrap().pop() else {
                    return answers;
                };
                let target = if case.query.is_empty() {
                    url.clone()
                } else {
                    format!("{url}?{}", case.query)
                };
                let mut req = client.post(&target).body(case.body.clone());
                // Only an empty query keeps the qsh of `signed` valid.
                req = match case.auth % 8 {
                    0 => req,
                    1..=4 => req.header("Authorization", format!("JWT {signed}")),
                    5 => req.header("Authorization", format!("JWT {foreign}")),
                    6 => req.header("Authorization", format!("Bearer {signed}")),
                    _ => req.header("Authorization", "JWT e30.e30.e30"),
                };
                if let Some(ct) = &case.content_type {
                    req = req.header("Content-Type", ct.as_str());
                }
                // Only what HTTP can carry: names and values it cannot are
                // refused by the client before they reach aarc.
                for (k, v) in &case.ce_headers {
                    let name = reqwest::header::HeaderName::from_bytes(k.as_bytes());
                    let value = reqwest::header::HeaderValue::from_str(v);
                    if let (Ok(name), Ok(value)) = (name, value) {
                        req = req.header(name, value);
                    }
                }
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                let text = res.text().await.unwrap_or_default();
                let stored: Vec<String> = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["events"].as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter(|e| e["status"] == "applied" || e["status"] == "ignored")
                    .filter_map(|e| e["id"].as_str().map(str::to_string))
                    .collect();
                answers.push((status, stored, format!("{case:?}")));
            }
        }));
    }
    let mut answers = Vec::new();
    for w in workers {
        answers.extend(w.await.unwrap());
    }
    assert_eq!(answers.len(), total);
    let server_errors: Vec<_> = answers.iter().filter(|a| a.0 >= 500).collect();
    assert!(
        server_errors.is_empty(),
        "{} 5xx answers, first: {:?}",
        server_errors.len(),
        server_errors.first()
    );
    let mut by_status: std::collections::BTreeMap<u16, usize> = Default::default();
    for a in &answers {
        *by_status.entry(a.0).or_default() += 1;
    }
    println!("{total} requests, answers by status: {by_status:?}");
    assert!(
        answers.iter().all(|a| a.0 < 300 || a.1.is_empty()),
        "a refusal reported stored events"
    );
    // The inbox holds exactly the events some answer reported as stored:
    // nothing refused left a trace.
    let reported: HashSet<String> = answers.iter().flat_map(|a| a.1.clone()).collect();
    let stored_set: HashSet<String> = sqlx::query_scalar("SELECT event_id FROM inbox_events")
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    // (An id may be stored twice under two sources: CloudEvents identify an
    // event by source and id together.)
    assert_eq!(stored_set, reported);
    // Blocks name only objects of events that were stored.
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM blocked_objects b
         WHERE NOT EXISTS (SELECT 1 FROM inbox_events e WHERE e.id = b.first_inbox_id)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
}
