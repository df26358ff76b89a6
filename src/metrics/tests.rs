//! The events counter's tally.

use super::*;
use crate::domain::{EventKind, EventSite};

fn event(event_type: &str, kind: EventKind) -> PolicyEvent {
    PolicyEvent {
        id: "e".into(),
        source: "s".into(),
        event_type: event_type.into(),
        time: None,
        site: EventSite::Unnamed,
        kind,
        raw: "{}".into(),
    }
}

fn count(metrics: &Metrics, mode: ReceiveMode, r#type: &str, outcome: &'static str) -> u64 {
    metrics
        .events_received
        .get_or_create(&EventLabels {
            mode: mode.as_str(),
            r#type: r#type.into(),
            outcome,
        })
        .get()
}

#[test]
fn events_are_counted_once_each_under_their_own_labels() {
    let metrics = Metrics::new();
    let blocked = event("v2", EventKind::ObjectsBlocked(vec![]));
    let unknown = event("avi:someone.else:thing", EventKind::Unknown);
    metrics.events([
        (ReceiveMode::Structured, &blocked, "stored"),
        (ReceiveMode::Structured, &blocked, "stored"),
        (ReceiveMode::Batch, &blocked, "stored"),
        (ReceiveMode::Structured, &blocked, "duplicate"),
        (ReceiveMode::Structured, &unknown, "stored"),
        (ReceiveMode::Structured, &blocked, "stored"),
    ]);
    assert_eq!(count(&metrics, ReceiveMode::Structured, "v2", "stored"), 3);
    assert_eq!(count(&metrics, ReceiveMode::Batch, "v2", "stored"), 1);
    assert_eq!(
        count(&metrics, ReceiveMode::Structured, "v2", "duplicate"),
        1
    );
    // An ignored type is counted as `other`, never under its own name.
    assert_eq!(
        count(&metrics, ReceiveMode::Structured, "other", "stored"),
        1
    );
    assert_eq!(
        count(
            &metrics,
            ReceiveMode::Structured,
            "avi:someone.else:thing",
            "stored"
        ),
        0
    );
}
