//! Hide and keep policies: what a pass hides, and that it misses nothing.

use super::*;

#[tokio::test]
async fn hide_hides_at_once_and_tells_the_app_with_a_valid_signature() {
    let w = World::new(false).await;
    w.block(&["1", "2"]).await;
    let report = w.pass_at(Duration::zero()).await;
    assert_eq!(report.hidden, 2);
    assert_eq!(w.state("1").await, "hidden");
    assert_eq!(
        w.status("1").await["purge_after"],
        Value::Null,
        "hide never purges"
    );
    let recorded = w.callback.recorded();
    assert_eq!(recorded.len(), 1);
    assert!(verify_standard_webhook(
        CALLBACK_SECRET,
        &recorded[0].headers,
        &recorded[0].body
    ));
    let (_, body) = &w.notifications()[0];
    assert_eq!(body["type"], "retention.hide");
    assert_eq!(body["cloudId"], w.tenant.cloud_id);
    assert_eq!(body["decisionId"], Value::Null);
    assert_eq!(
        body["objects"],
        json!([{"product": "confluence", "type": "page", "id": "1"},
                                      {"product": "confluence", "type": "page", "id": "2"}])
    );
    // A second pass finds nothing to do and sends nothing again.
    let again = w.pass_at(Duration::minutes(5)).await;
    assert_eq!((again.hidden, again.delivered), (0, 0));
    assert_eq!(w.callback.recorded().len(), 1);
    // The history shows the event and the transition with its pass.
    let h = w.history("1").await;
    let kinds: Vec<&str> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["event", "transition"]);
    assert_eq!(h["history"][1]["to"], "hidden");
    assert_eq!(
        h["history"][1]["cause"]["pass_id"],
        report.pass_id.to_string()
    );
}

#[tokio::test]
async fn keep_leaves_objects_blocked_and_says_nothing() {
    let w = World::new(false).await;
    w.policy("keep", "30d", "required").await;
    w.block(&["1"]).await;
    let report = w.pass_at(Duration::days(400)).await;
    assert_eq!((report.hidden, report.decisions), (0, 0));
    assert_eq!(w.state("1").await, "blocked");
    assert!(w.callback.recorded().is_empty());
}

#[tokio::test]
async fn a_pass_sees_policy_changes_and_new_blocks_on_sites_it_scanned_before() {
    let w = World::new(false).await;
    w.policy("keep", "30d", "required").await;
    w.block(&["1"]).await;
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 0);
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 0);
    // Only the policy changes: the blocked row itself is as it was.
    w.policy("hide", "30d", "required").await;
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 1);
    assert_eq!(w.state("1").await, "hidden");
    // A new block on a site the reconciler has just scanned.
    w.block(&["2", "3"]).await;
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 2);
    assert_eq!(w.state("3").await, "hidden");
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 0);
}

#[tokio::test]
async fn a_row_locked_by_a_transaction_that_rolls_back_is_hidden_at_the_next_pass() {
    let w = World::new(false).await;
    w.policy("hide", "30d", "required").await;
    w.block(&["1"]).await;
    // Another transaction holds the row (a dry run, say) during the pass…
    let mut holder = w.app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM blocked_objects WHERE cloud_id = $1 AND object_id = '1' FOR UPDATE")
        .bind(&w.tenant.cloud_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 0);
    // … and rolls back: the site's counter did not move, yet the row is due.
    holder.rollback().await.unwrap();
    assert_eq!(w.pass_at(Duration::zero()).await.hidden, 1);
    assert_eq!(w.state("1").await, "hidden");
}

#[tokio::test]
async fn a_site_is_hidden_chunk_by_chunk_in_key_order_without_gaps() {
    use aarc::store::policies::DefaultPolicy;
    use aarc::store::reconcile::{hide_chunk, HideCursor, PassContext};
    let w = World::new(false).await;
    w.policy("hide", "30d", "required").await;
    w.block(&["e", "a", "d", "b", "c"]).await;
    let c = &w.app.config;
    let ctx = PassContext {
        pass_id: uuid::Uuid::new_v4(),
        now: w.t0,
        defaults: DefaultPolicy {
            action: c.default_action,
            grace: c.default_grace,
            review: c.default_review,
        },
    };
    let mut conn = w.app.pool.acquire().await.unwrap();
    let (mut after, mut chunks) = (HideCursor::default(), Vec::new());
    loop {
        let chunk = hide_chunk(&mut conn, &ctx, &w.tenant.cloud_id, &after, 2)
            .await
            .unwrap();
        assert!(!chunk.skipped);
        chunks.push((
            chunk.hidden,
            chunk.next.as_ref().map(|n| n.object_id.clone()),
        ));
        match chunk.next {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(
        chunks,
        vec![(2, Some("b".into())), (2, Some("d".into())), (1, None)]
    );
    for id in ["a", "b", "c", "d", "e"] {
        assert_eq!(w.state(id).await, "hidden", "{id}");
    }
}
