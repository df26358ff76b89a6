//! Purge policies: reviews, verification during the grace period, notifications, block cycles.

use super::*;

#[tokio::test]
async fn purge_with_review_waits_for_an_operator_then_purges_on_acknowledgement() {
    let w = World::new(true).await;
    w.policy("purge", "7d", "required").await;
    w.block(&["1", "2"]).await;
    w.pass_at(Duration::zero()).await;
    assert_eq!(w.state("1").await, "hidden");
    let status = w.status("1").await;
    let purge_after: DateTime<Utc> = status["purge_after"].as_str().unwrap().parse().unwrap();
    assert!(
        ((purge_after - w.t0).num_milliseconds() - 7 * 86_400_000).abs() < 1000,
        "{purge_after}"
    );
    // Inside the grace period nothing is decided.
    assert_eq!(w.pass_at(Duration::days(6)).await.decisions, 0);
    let report = w.pass_at(Duration::days(8)).await;
    assert_eq!(
        (report.decisions, report.decided_objects),
        (1, 2),
        "{report}"
    );
    assert_eq!(w.state("1").await, "pending_review");
    // The block was verified with Atlassian first, with a Connect JWT aarc signed.
    let asked = w.atlassian.recorded();
    let call = asked
        .iter()
        .find(|r| r.path == "/wiki/api/v2/data-policies/metadata")
        .expect("verified");
    let token = call.headers["authorization"].strip_prefix("JWT ").unwrap();
    assert_eq!(
        aarc::ingest::auth::connect::unverified_issuer(token).unwrap(),
        "com.example.app"
    );
    aarc::ingest::auth::connect::verify(
        token,
        &secrecy::SecretString::from(w.tenant.secret.clone()),
        "GET",
        "/wiki/api/v2/data-policies/metadata",
        "",
    )
    .unwrap();
    // Nothing is purged without approval, however long it waits.
    w.pass_at(Duration::days(60)).await;
    assert_eq!(w.state("2").await, "pending_review");
    let decision = w.decision_of("1").await;
    let res = w.act(&decision, "approve").await;
    assert_eq!(res.status(), 200);
    assert_eq!(w.state("1").await, "purging");
    let report = w.pass_at(Duration::days(61)).await;
    assert_eq!(report.delivered, 1);
    assert_eq!(w.state("1").await, "purged");
    assert_eq!(w.state("2").await, "purged");
    let purge = w
        .notifications()
        .into_iter()
        .find(|(_, b)| b["type"] == "retention.purge")
        .unwrap();
    assert_eq!(purge.1["decisionId"], decision);
    let detail = w
        .app
        .get_ok(&format!("/admin/decisions/{decision}"), OPERATOR_TOKEN)
        .await;
    assert_eq!(detail["decision"]["state"], "purged");
    assert_eq!(detail["objects"].as_array().unwrap().len(), 2);
    assert_eq!(detail["audit"][0]["actor"], "ops");
    assert_eq!(detail["audit"][0]["action"], "approve");
    // Approving again is refused: the decision is no longer pending.
    let again = w.act(&decision, "approve").await;
    problem(again, 409).await;
}

#[tokio::test]
async fn purge_with_auto_review_purges_after_grace_without_an_operator() {
    let w = World::new(true).await;
    w.policy("purge", "1d", "auto").await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await;
    let report = w.pass_at(Duration::days(2)).await;
    assert_eq!(report.decisions, 1);
    assert_eq!(w.state("1").await, "purged", "{report}");
    assert_eq!(
        w.notification_kinds(),
        vec!["retention.hide", "retention.purge"]
    );
}

#[tokio::test]
async fn an_unblock_found_by_verification_during_grace_restores_and_never_purges() {
    let w = World::new(true).await;
    w.policy("purge", "30d", "auto").await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await;
    assert_eq!(w.state("1").await, "hidden");
    w.atlassian
        .set_default(Answer::json(200, json!({"anyContentBlocked": false})));
    // The daily verification is due a day later.
    let report = w.pass_at(Duration::days(1) + Duration::minutes(1)).await;
    assert_eq!(report.restored, 1, "{report}");
    assert_eq!(w.state("1").await, "restored");
    assert_eq!(w.status("1").await["blocked"], false);
    w.pass_at(Duration::days(40)).await;
    assert_eq!(w.state("1").await, "restored");
    assert_eq!(
        w.notification_kinds(),
        vec!["retention.hide", "retention.restore"]
    );
}

#[tokio::test]
async fn failing_or_rate_limited_verification_changes_nothing() {
    let w = World::new(true).await;
    w.policy("purge", "1d", "auto").await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await; // first verification (true) + hide
    let calls_before = w.atlassian.recorded().len();
    w.atlassian
        .then(Answer::json(500, json!({"message": "boom"})));
    let report = w.pass_at(Duration::days(2)).await;
    assert_eq!((report.decisions, report.restored), (0, 0), "{report}");
    assert_eq!(w.state("1").await, "hidden");
    assert_eq!(w.atlassian.recorded().len(), calls_before + 1);
    // After an error the pair is not asked again for 15 minutes.
    w.pass_at(Duration::days(2) + Duration::minutes(5)).await;
    assert_eq!(w.atlassian.recorded().len(), calls_before + 1);
    let mut limited = Answer::json(429, json!({}));
    limited.headers.push(("Retry-After".into(), "3600".into()));
    w.atlassian.then(limited);
    let report = w.pass_at(Duration::days(2) + Duration::minutes(20)).await;
    assert_eq!((report.decisions, report.restored), (0, 0));
    assert_eq!(w.atlassian.recorded().len(), calls_before + 2);
    // Retry-After is honoured: no call before the hour is up.
    w.pass_at(Duration::days(2) + Duration::minutes(50)).await;
    assert_eq!(w.atlassian.recorded().len(), calls_before + 2);
    assert_eq!(w.state("1").await, "hidden");
    let report = w.pass_at(Duration::days(2) + Duration::minutes(90)).await;
    assert_eq!(report.decisions, 1, "{report}");
    assert_eq!(w.state("1").await, "purged");
}

#[tokio::test]
async fn no_credentials_means_verification_is_unavailable_and_nothing_is_purged() {
    let w = World::new(true).await;
    let app_without_key = {
        let mut c = w.app.config.clone();
        c.app_key = None;
        Reconciler::new(w.app.pool.clone(), Arc::new(c))
    };
    w.policy("purge", "1d", "auto").await;
    w.block(&["1"]).await;
    let report = app_without_key
        .run_pass(w.t0 + Duration::days(3), false)
        .await
        .unwrap();
    assert!(
        report
            .verifications
            .iter()
            .any(|v| v.contains("AARC_APP_KEY")),
        "{report}"
    );
    assert_eq!(report.decisions, 0);
    assert_eq!(w.state("1").await, "hidden");
}

#[tokio::test]
async fn a_failing_callback_is_retried_with_the_same_webhook_id_until_acknowledged() {
    let w = World::new(false).await;
    w.policy("purge", "1d", "auto").await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await; // hide, delivered
    w.callback.then(Answer::json(500, json!({})));
    w.callback.then(Answer::json(503, json!({})));
    let first = w.pass_at(Duration::days(2)).await;
    assert_eq!(
        (first.decisions, first.delivery_failures),
        (1, 1),
        "{first}"
    );
    assert_eq!(w.state("1").await, "purging");
    // Before the backoff has passed nothing is sent.
    w.pass_at(Duration::days(2) + Duration::seconds(5)).await;
    assert_eq!(w.callback.recorded().len(), 2);
    let second = w.pass_at(Duration::days(2) + Duration::minutes(1)).await;
    assert_eq!(second.delivery_failures, 1, "{second}");
    assert_eq!(
        w.state("1").await,
        "purging",
        "not purged without an acknowledgement"
    );
    let third = w.pass_at(Duration::days(2) + Duration::minutes(10)).await;
    assert_eq!(third.delivered, 1, "{third}");
    assert_eq!(w.state("1").await, "purged");
    let purges: Vec<(String, Value)> = w
        .notifications()
        .into_iter()
        .filter(|(_, b)| b["type"] == "retention.purge")
        .collect();
    assert_eq!(purges.len(), 3);
    let ids: HashSet<&str> = purges.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 1, "every retry carries the same webhook-id");
    for r in w.callback.recorded() {
        assert!(verify_standard_webhook(
            CALLBACK_SECRET,
            &r.headers,
            &r.body
        ));
    }
    // Acknowledged: never sent again.
    w.pass_at(Duration::days(5)).await;
    assert_eq!(w.callback.recorded().len(), 4);
}

#[tokio::test]
async fn two_passes_at_once_never_take_a_decision_or_send_a_notification_twice() {
    let w = World::new(false).await;
    w.policy("purge", "1d", "auto").await;
    let ids: Vec<String> = (0..3000).map(|i| format!("obj-{i}")).collect();
    for chunk in ids.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        w.block(&refs).await;
    }
    let states: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, count(*) FROM blocked_objects WHERE cloud_id = $1 GROUP BY state",
    )
    .bind(&w.tenant.cloud_id)
    .fetch_all(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(states, vec![("blocked".to_string(), 3000)]);
    let (a, b) = (w.reconciler(), w.reconciler());
    let now = w.t0 + Duration::hours(1);
    let (ra, rb) = tokio::join!(a.run_pass(now, false), b.run_pass(now, false));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.hidden + rb.hidden, 3000, "{ra}\n{rb}");
    // Then both again, for the purge decisions.
    let later = now + Duration::days(2);
    let (ra2, rb2) = tokio::join!(a.run_pass(later, false), b.run_pass(later, false));
    let (ra2, rb2) = (ra2.unwrap(), rb2.unwrap());
    assert_eq!(
        ra2.decided_objects + rb2.decided_objects,
        3000,
        "{ra2}\n{rb2}"
    );
    // Every object is in exactly one decision, and the decisions count exactly their objects.
    let counted: i64 =
        sqlx::query_scalar("SELECT COALESCE(sum(object_count), 0)::bigint FROM decisions")
            .fetch_one(&w.app.pool)
            .await
            .unwrap();
    assert_eq!(counted, 3000, "decisions claim {counted} objects for 3000");
    let without: i64 = w
        .app
        .count(
            "SELECT count(*) FROM blocked_objects WHERE cloud_id = $1 AND decision_id IS NULL",
            &w.tenant.cloud_id,
        )
        .await;
    assert_eq!(without, 0);
    let notified: Vec<(String, Value)> = w.notifications();
    let ids_seen: HashSet<&str> = notified.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids_seen.len(),
        notified.len(),
        "a notification was sent twice"
    );
    let hidden_objects: usize = notified
        .iter()
        .filter(|(_, b)| b["type"] == "retention.hide")
        .map(|(_, b)| b["objects"].as_array().unwrap().len())
        .sum();
    assert_eq!(hidden_objects, 3000);
    let purged: i64 = w
        .app
        .count(
            "SELECT count(*) FROM blocked_objects WHERE cloud_id = $1 AND state = 'purged'",
            &w.tenant.cloud_id,
        )
        .await;
    assert_eq!(purged, 3000);
}

#[tokio::test]
async fn a_new_block_after_restore_starts_a_new_cycle_but_an_older_event_does_not() {
    let w = World::new(false).await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await;
    let res = w.app.client
        .post(w.app.url(&format!("/admin/sites/{}/unblock", w.tenant.cloud_id)))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"objects": [{"product": "confluence", "type": "page", "id": "1"}], "reason": "customer lifted the rule"}))
        .send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(w.state("1").await, "restored");
    // An event from before the unblock (delivered late) changes nothing.
    let mut stale = v2_objects_event(&w.tenant.cloud_id, &["1"]);
    stale["time"] = json!((Utc::now() - Duration::hours(1)).to_rfc3339());
    assert_eq!(w.app.post_structured(&w.tenant, &stale).await.status(), 202);
    assert_eq!(w.state("1").await, "restored");
    // A newer one blocks it again, from its own time.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let fresh = v2_objects_event(&w.tenant.cloud_id, &["1"]);
    let mut fresh = fresh;
    fresh["time"] = json!((Utc::now() + Duration::seconds(1)).to_rfc3339());
    assert_eq!(w.app.post_structured(&w.tenant, &fresh).await.status(), 202);
    let status = w.status("1").await;
    assert_eq!(status["state"], "blocked");
    let h = w.history("1").await;
    let transitions: Vec<(String, String)> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "transition")
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_string(),
                e["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        transitions,
        vec![
            ("blocked".to_string(), "hidden".to_string()),
            ("hidden".to_string(), "restored".to_string()),
            ("restored".to_string(), "blocked".to_string()),
        ]
    );
    let unblock = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == "restored")
        .unwrap();
    assert_eq!(unblock["cause"]["actor"], "ops");
    assert_eq!(unblock["cause"]["reason"], "customer lifted the rule");
}

#[tokio::test]
async fn hold_and_keep_are_recorded_and_keep_stops_the_purge() {
    let w = World::new(false).await;
    w.policy("purge", "1d", "required").await;
    w.block(&["1"]).await;
    w.pass_at(Duration::zero()).await;
    w.pass_at(Duration::days(2)).await;
    let decision = w.decision_of("1").await;
    assert_eq!(w.act(&decision, "hold").await.status(), 200);
    problem(w.act(&decision, "hold").await, 409).await;
    assert_eq!(w.act(&decision, "keep").await.status(), 200);
    assert_eq!(w.state("1").await, "hidden");
    w.pass_at(Duration::days(30)).await;
    assert_eq!(
        w.state("1").await,
        "hidden",
        "a kept object is never purged"
    );
    let detail = w
        .app
        .get_ok(&format!("/admin/decisions/{decision}"), OPERATOR_TOKEN)
        .await;
    let actions: Vec<&str> = detail["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["hold", "keep"]);
    assert_eq!(detail["decision"]["state"], "kept");
}
