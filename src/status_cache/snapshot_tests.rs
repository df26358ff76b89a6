//! Tests of `snapshot`: how a site's copy answers and what it costs.

use super::*;
use crate::domain::{HumanDuration, Product, ReviewMode};

fn defaults(action: RetentionAction) -> DefaultPolicy {
    DefaultPolicy {
        action,
        grace: HumanDuration::parse("2d").unwrap(),
        review: ReviewMode::Auto,
    }
}

fn row(id: &str, state: ObjectState, kept: bool) -> BlockRow {
    BlockRow {
        product: "confluence".into(),
        object_type: "page".into(),
        object_id: id.into(),
        state,
        kept,
        first_blocked_at: DateTime::from_timestamp(1_000_000, 0).unwrap(),
        decision_id: None,
    }
}

fn page(id: &str) -> ObjectRef {
    ObjectRef::parse(Product::parse("confluence").unwrap(), "page", id).unwrap()
}

#[test]
fn finds_every_loaded_id_and_nothing_else() {
    let mut b = SnapshotBuilder::new(100);
    // Inserted out of order, with ids that are prefixes of each other.
    for id in ["b", "a", "ab", "a\u{e9}", "10", "9", "~"] {
        b.block(row(id, ObjectState::Hidden, false)).unwrap();
    }
    let snap = b.finish();
    let d = defaults(RetentionAction::Hide);
    for id in ["b", "a", "ab", "a\u{e9}", "10", "9", "~"] {
        assert_eq!(
            snap.status(page(id), &d).state,
            ObjectState::Hidden,
            "{id:?}"
        );
    }
    for id in ["c", "aa", "1", "a\u{e8}", " "] {
        assert_eq!(
            snap.status(page(id), &d).state,
            ObjectState::Clear,
            "{id:?}"
        );
    }
    let jira = ObjectRef::parse(Product::parse("jira").unwrap(), "page", "a").unwrap();
    assert_eq!(snap.status(jira, &d).state, ObjectState::Clear);
}

#[test]
fn purge_dates_follow_policy_kept_and_state() {
    let mut b = SnapshotBuilder::new(100);
    b.block(row("blocked", ObjectState::Blocked, false))
        .unwrap();
    b.block(row("kept", ObjectState::Blocked, true)).unwrap();
    b.block(row("restored", ObjectState::Restored, false))
        .unwrap();
    let snap = b.finish();
    let since = DateTime::from_timestamp(1_000_000, 0).unwrap();
    let purge = defaults(RetentionAction::Purge);
    let after = |s: &SiteSnapshot, id: &str, d: &DefaultPolicy| s.status(page(id), d).purge_after;
    assert_eq!(
        after(&snap, "blocked", &purge),
        Some(since + TimeDelta::days(2))
    );
    assert_eq!(after(&snap, "kept", &purge), None);
    assert_eq!(after(&snap, "restored", &purge), None);
    assert_eq!(
        after(&snap, "blocked", &defaults(RetentionAction::Hide)),
        None
    );
    // A site policy wins over the default.
    let mut b = SnapshotBuilder::new(100);
    b.policy(PolicyRow {
        product: "confluence".into(),
        object_type: "page".into(),
        action: RetentionAction::Purge,
        grace_secs: 60,
    });
    b.block(row("blocked", ObjectState::Blocked, false))
        .unwrap();
    let snap = b.finish();
    let hide = defaults(RetentionAction::Hide);
    assert_eq!(
        after(&snap, "blocked", &hide),
        Some(since + TimeDelta::seconds(60))
    );
}

#[test]
fn decisions_are_shared_and_a_full_builder_refuses_more() {
    let mut b = SnapshotBuilder::new(2);
    let decision = uuid::Uuid::new_v4();
    for id in ["x", "y"] {
        let mut r = row(id, ObjectState::PendingReview, false);
        r.decision_id = Some(decision);
        b.block(r).unwrap();
    }
    assert!(b.block(row("z", ObjectState::Blocked, false)).is_err());
    assert!(b.too_large());
    let snap = b.finish();
    assert_eq!(snap.decisions.len(), 1);
    assert_eq!(snap.attributes.len(), 1, "x and y share their attributes");
    let d = defaults(RetentionAction::Hide);
    assert_eq!(snap.status(page("y"), &d).decision_id, Some(decision));
    assert_eq!(snap.objects(), 2);
}
