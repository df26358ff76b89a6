//! `GET /metrics`: the figures move with what the service does.

use std::collections::HashMap;

use chrono::Duration;

use crate::helpers::*;
use crate::reconciler::World;

/// Every sample of a scrape of `base`, keyed by its series (`name{labels}`).
pub async fn scrape_at(client: &reqwest::Client, base: &str) -> HashMap<String, f64> {
    let res = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "not OpenMetrics text: {text}");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    scrape_at(&app.client, &app.address).await
}

pub fn get(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

/// Counters are process-wide and other tests run beside this one, so each
/// is checked to have grown by at least what this test did.
fn grew_by_at_least(
    before: &HashMap<String, f64>,
    after: &HashMap<String, f64>,
    series: &str,
    n: f64,
) {
    let (b, a) = (get(before, series), get(after, series));
    assert!(a - b >= n, "{series}: {b} -> {a}, expected +{n}");
}

#[tokio::test]
async fn counters_follow_ingest_and_the_reconciler() {
    let world = World::new(true).await;
    let before = scrape(&world.app).await;
    let event = world.block(&["m1", "m2", "m3"]).await;
    let again = world.app.post_structured(&world.tenant, &event).await;
    assert_eq!(again.status(), 200);
    let refused = world
        .app
        .client
        .post(world.app.url(WEBHOOK))
        .header("Authorization", "JWT not-a-token")
        .header("Content-Type", "application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let report = world.pass_at(Duration::minutes(1)).await;
    assert_eq!(report.hidden, 3);
    let after = scrape(&world.app).await;

    let kind = event["type"].as_str().unwrap();
    for outcome in ["applied", "duplicate"] {
        grew_by_at_least(
            &before,
            &after,
            &format!(
                "aarc_events_received_total{{mode=\"structured\",type=\"{kind}\",outcome=\"{outcome}\"}}"
            ),
            1.0,
        );
    }
    grew_by_at_least(
        &before,
        &after,
        "aarc_webhook_requests_total{status=\"202\"}",
        1.0,
    );
    grew_by_at_least(
        &before,
        &after,
        "aarc_webhook_requests_total{status=\"200\"}",
        1.0,
    );
    grew_by_at_least(
        &before,
        &after,
        "aarc_webhook_requests_total{status=\"401\"}",
        1.0,
    );
    grew_by_at_least(&before, &after, "aarc_ingest_duration_seconds_count", 3.0);
    grew_by_at_least(&before, &after, "aarc_ingest_batch_events_count", 2.0);
    grew_by_at_least(
        &before,
        &after,
        "aarc_reconcile_pass_duration_seconds_count",
        1.0,
    );
    grew_by_at_least(
        &before,
        &after,
        "aarc_reconcile_objects_total{action=\"hidden\"}",
        3.0,
    );
    grew_by_at_least(
        &before,
        &after,
        "aarc_verification_calls_total{outcome=\"blocked\"}",
        1.0,
    );
    grew_by_at_least(
        &before,
        &after,
        "aarc_outbox_delivery_attempts_total{outcome=\"delivered\"}",
        1.0,
    );
}

#[tokio::test]
async fn database_figures_are_read_when_scraped() {
    let world = World::new(false).await;
    world.block(&["g1", "g2"]).await;
    world.pass_at(Duration::minutes(1)).await;
    world.block(&["g3"]).await;
    // The fake app refuses notifications: they stay in the backlog.
    world
        .callback
        .set_default(crate::fakes::Answer::json(500, serde_json::json!({})));
    world.block(&["g4"]).await;
    world.pass_at(Duration::minutes(2)).await;
    let samples = scrape(&world.app).await;
    assert_eq!(get(&samples, "aarc_blocked_objects{state=\"hidden\"}"), 4.0);
    assert_eq!(
        get(&samples, "aarc_blocked_objects{state=\"blocked\"}"),
        0.0
    );
    assert!(samples.contains_key("aarc_blocked_objects{state=\"purged\"}"));
    assert_eq!(get(&samples, "aarc_outbox_backlog"), 1.0);
    assert_eq!(get(&samples, "aarc_outbox_dead"), 0.0);
    assert!(get(&samples, "aarc_db_pool_max_connections") >= 1.0);
    assert!(samples.contains_key("aarc_db_pool_connections{state=\"in_use\"}"));
}

#[tokio::test]
async fn the_readme_lists_every_metric_and_no_other() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = res.text().await.unwrap();
    // OpenMetrics names a counter family without its `_total` suffix.
    let served: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').unwrap();
            if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            }
        })
        .collect();
    let readme = std::fs::read_to_string("README.md").unwrap();
    let section = readme
        .split("## Metrics")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README has a Metrics section");
    let documented: std::collections::BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `aarc_"))
        .map(|l| format!("aarc_{}", l.split('`').next().unwrap()))
        .collect();
    assert_eq!(served, documented);
}
