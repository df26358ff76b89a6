//! Group commit: concurrent requests share a transaction, yet each gets its
//! own answer — a refused request does not hold up the others, copies of one
//! event are applied once, and objects named by several events of one group
//! end as if the events had come one by one.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::load::{post_concurrently, Post};

/// Writers wait long enough for all the test's requests to meet in a group.
async fn grouping_app() -> TestApp {
    spawn_app_with_vars(
        &[
            ("AARC_INGEST_BATCH_WAIT_MS".into(), "50".into()),
            ("AARC_INGEST_BATCH_LINGER_MS".into(), "50".into()),
            ("AARC_INGEST_BATCH_MAX".into(), "1000".into()),
        ],
        |_| {},
    )
    .await
}

fn post(app: &TestApp, t: &ConnectTenant, event: &Value) -> Post {
    Post {
        url: app.url(WEBHOOK),
        authorization: format!("JWT {}", t.jwt("")),
        body: event.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_of_a_group_gets_its_own_answer() {
    let app = grouping_app().await;
    let (a, b) = (app.connect_tenant().await, app.connect_tenant().await);

    // Objects g-0..g-9 are each named by two events of A: the later ones
    // must not reset what the earlier ones recorded.
    let mut posts = Vec::new();
    let mut expected = Vec::new();
    for i in 0..10 {
        let first = v2_objects_event(&a.cloud_id, &[&format!("g-{i}")]);
        let mut second = v2_objects_event(&a.cloud_id, &[&format!("g-{i}"), &format!("h-{i}")]);
        second["time"] = json!("2026-11-21T08:08:08Z");
        posts.push(post(&app, &a, &first));
        expected.push(202);
        posts.push(post(&app, &a, &second));
        expected.push(202);
    }
    // One event sent twice in the same group: applied once, the copy is a duplicate.
    let twice = v2_objects_event(&b.cloud_id, &["twice"]);
    posts.push(post(&app, &b, &twice));
    posts.push(post(&app, &b, &twice));
    // B naming A's site: refused, without holding up the rest.
    posts.push(post(&app, &b, &v2_objects_event(&a.cloud_id, &["stolen"])));
    expected.push(403);
    let statuses = post_concurrently(&app.client, posts, 32).await;
    let statuses: Vec<u16> = statuses.into_iter().map(|s| s.unwrap()).collect();

    assert_eq!(
        &statuses[..20],
        &expected[..20],
        "A's events are all applied"
    );
    let mut copies = [statuses[20], statuses[21]];
    copies.sort();
    assert_eq!(
        copies,
        [200, 202],
        "one copy applied, the other a duplicate"
    );
    assert_eq!(statuses[22], 403, "the foreign site is refused");

    assert_eq!(app.inbox_count(&a.cloud_id).await, 20);
    assert_eq!(app.inbox_count(&b.cloud_id).await, 1);
    assert_eq!(app.blocked_count(&a.cloud_id).await, 20, "g-* and h-*");
    let stolen = app
        .count(
            "SELECT count(*) FROM blocked_objects WHERE cloud_id = $1 AND object_id = 'stolen'",
            &a.cloud_id,
        )
        .await;
    assert_eq!(stolen, 0, "the refused request wrote nothing");
    // Every g-* was named by two events, whichever came first: both are in its history.
    let twice_named = app
        .count(
            "SELECT count(*) FROM blocked_objects WHERE cloud_id = $1
             AND object_id LIKE 'g-%' AND cardinality(inbox_ids) = 2
             AND first_blocked_at = '2026-11-20T08:08:08Z'
             AND last_blocked_at = '2026-11-21T08:08:08Z'",
            &a.cloud_id,
        )
        .await;
    assert_eq!(
        twice_named, 10,
        "each g-* keeps its earliest and latest block"
    );

    // An inbox row's receipt time is its transaction's start: rows that
    // share one were committed together.
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT received_at) FROM inbox_events WHERE cloud_id IN ($1, $2)",
    )
    .bind(&a.cloud_id)
    .bind(&b.cloud_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        transactions < 21,
        "requests shared transactions (21 events in {transactions})"
    );
}

/// A group of new events on new objects is written by the fast statement,
/// which draws the inbox ids before the rows go in and finds each object's
/// event by position: every block must still point at its own event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_object_of_a_group_points_at_the_event_that_named_it() {
    let app = grouping_app().await;
    let (a, b) = (app.connect_tenant().await, app.connect_tenant().await);
    let mut posts = Vec::new();
    for i in 0..12 {
        let t = if i % 2 == 0 { &a } else { &b };
        let mut event = v2_objects_event(&t.cloud_id, &[&format!("p-{i}-x"), &format!("p-{i}-y")]);
        event["id"] = json!(format!("ev-{i}"));
        // Odd events claim a time after their receipt: the block counts from
        // the receipt then.
        if i % 2 == 1 {
            event["time"] = json!("2099-01-01T00:00:00Z");
        }
        posts.push(post(&app, t, &event));
    }
    let statuses = post_concurrently(&app.client, posts, 32).await;
    let statuses: Vec<u16> = statuses.into_iter().map(|s| s.unwrap()).collect();
    assert_eq!(statuses, vec![202; 12]);

    let sites = [a.cloud_id.as_str(), b.cloud_id.as_str()];
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT received_at) FROM inbox_events WHERE cloud_id = ANY($1)",
    )
    .bind(&sites[..])
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        transactions < 12,
        "the events shared transactions ({transactions})"
    );
    // Each block against the inbox row of the event named in its object id.
    let matching: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM blocked_objects b JOIN inbox_events e ON e.id = b.first_inbox_id
         WHERE b.cloud_id = ANY($1) AND b.cloud_id = e.cloud_id
           AND e.event_id = 'ev-' || split_part(b.object_id, '-', 2)
           AND b.last_inbox_id = e.id AND b.inbox_ids = ARRAY[e.id]
           AND b.first_blocked_at = LEAST(e.event_time, e.received_at)
           AND b.last_blocked_at = b.first_blocked_at",
    )
    .bind(&sites[..])
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(matching, 24, "every object points at its own event");
    let from_receipt: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM blocked_objects b JOIN inbox_events e ON e.id = b.first_inbox_id
         WHERE b.cloud_id = ANY($1) AND b.first_blocked_at = e.received_at",
    )
    .bind(&sites[..])
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(from_receipt, 12, "the future-dated events' objects");
    // The inbox ids are the table's own: a later event gets a larger one.
    let later = app
        .post_structured(&a, &v2_objects_event(&a.cloud_id, &["later"]))
        .await;
    assert_eq!(later.status(), 202);
    let newest_is_later: bool = sqlx::query_scalar(
        "SELECT (SELECT id FROM inbox_events e JOIN blocked_objects b ON b.first_inbox_id = e.id
                 WHERE b.cloud_id = $1 AND b.object_id = 'later')
              > (SELECT max(id) FROM inbox_events WHERE event_id LIKE 'ev-%' AND cloud_id = ANY($2))",
    )
    .bind(&a.cloud_id)
    .bind(&sites[..])
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(newest_is_later);
}

#[tokio::test]
async fn a_remembered_secret_that_changed_is_not_accepted() {
    let app = spawn_app().await;
    let old = app.connect_tenant().await;
    // The first event makes aarc remember the tenant and its secret.
    let first = app
        .post_structured(&old, &v2_objects_event(&old.cloud_id, &["one"]))
        .await;
    assert_eq!(first.status(), 202);
    // The tenant is installed again with a new secret.
    let new = ConnectTenant {
        secret: format!("rotated-{}", uuid::Uuid::new_v4().simple()),
        client_key: old.client_key.clone(),
        cloud_id: old.cloud_id.clone(),
        base_url: old.base_url.clone(),
    };
    let res = app
        .client
        .put(app.url(&format!("/admin/tenants/{}", new.client_key)))
        .bearer_auth(OPERATOR_TOKEN)
        .json(
            &json!({"sharedSecret": new.secret, "baseUrl": new.base_url, "cloudId": new.cloud_id}),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());

    let stale = app
        .post_structured(&old, &v2_objects_event(&old.cloud_id, &["two"]))
        .await;
    let detail = problem(stale, 401).await;
    assert!(
        detail["detail"].as_str().unwrap().contains("secret"),
        "{detail}"
    );
    let fresh = app
        .post_structured(&new, &v2_objects_event(&new.cloud_id, &["three"]))
        .await;
    assert_eq!(fresh.status(), 202, "the new secret is accepted at once");
    assert_eq!(app.inbox_count(&old.cloud_id).await, 2);
}

/// Writers remember the tenants they read and let the group's statement
/// confirm them; a change made elsewhere (another replica, an operator's
/// SQL) must still decide the next request, in both directions.
#[tokio::test]
async fn a_tenant_changed_elsewhere_is_checked_as_the_table_has_it() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let post = |id: &'static str| {
        let event = v2_objects_event(&t.cloud_id, &[id]);
        let (app, t) = (&app, &t);
        async move { app.post_structured(t, &event).await }
    };
    assert_eq!(post("one").await.status(), 202, "remembered installed");
    let set_installed = |installed: bool| {
        sqlx::query("UPDATE tenants SET installed = $1 WHERE kind = 'connect' AND tenant_key = $2")
            .bind(installed)
            .bind(&t.client_key)
            .execute(&app.pool)
    };
    set_installed(false).await.unwrap();
    let refused = problem(post("two").await, 401).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("uninstalled"),
        "{refused}"
    );
    assert_eq!(
        app.inbox_count(&t.cloud_id).await,
        1,
        "nothing of the refused request"
    );
    set_installed(true).await.unwrap();
    assert_eq!(
        post("three").await.status(),
        202,
        "remembered uninstalled, but installed again"
    );
    assert_eq!(post("four").await.status(), 202);
    assert_eq!(app.inbox_count(&t.cloud_id).await, 3);
}

#[tokio::test]
async fn an_event_naming_an_object_twice_blocks_it_once() {
    let app = spawn_app().await;
    let t = app.connect_tenant().await;
    let event = v2_objects_event(&t.cloud_id, &["same", "other", "same"]);
    assert_eq!(app.post_structured(&t, &event).await.status(), 202);
    assert_eq!(app.blocked_count(&t.cloud_id).await, 2);
    let history = app
        .count(
            "SELECT count(*) FROM blocked_objects WHERE cloud_id = $1
             AND object_id = 'same' AND cardinality(inbox_ids) = 1",
            &t.cloud_id,
        )
        .await;
    assert_eq!(history, 1, "the event is in the object's history once");
}

/// Many requests of one Forge installation in one group: the installation
/// is registered once for them all, and ends as registering them one by one
/// would leave it — with the system token that expires last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_one_forge_installation_registers_it_as_one_by_one_would() {
    let app = grouping_app().await;
    let (installation, cloud_id) = new_forge_installation();
    let now = chrono::Utc::now().timestamp();
    let expiries: Vec<i64> = (0..12).map(|i| now + 600 + (i * 7919) % 3600).collect();
    let latest = *expiries.iter().max().unwrap();
    let posts = expiries.iter().enumerate().map(|(i, exp)| {
        let fit = sign_fit(&fit_claims(&installation, &cloud_id), 1);
        let event = v2_objects_event(&cloud_id, &[&format!("f-{i}")]);
        let token = crate::auth_forge::system_token(*exp);
        let request = app
            .client
            .post(app.url(WEBHOOK))
            .bearer_auth(fit)
            .header("Content-Type", "application/json")
            .header("x-forge-oauth-system", token)
            .body(event.to_string());
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(posts).await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");

    let rows: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT system_token FROM tenants WHERE kind = 'forge' AND tenant_key = $1")
            .bind(&installation)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1, "one tenant row");
    assert_eq!(
        rows[0].0.as_deref(),
        Some(crate::auth_forge::system_token(latest).as_str())
    );
    assert_eq!(app.blocked_count(&cloud_id).await, 12);
    // Rows that share a receipt time were committed together.
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT received_at) FROM inbox_events WHERE cloud_id = $1",
    )
    .bind(&cloud_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        transactions < 12,
        "the requests shared transactions ({transactions})"
    );
}
