//! From what aarc knows about one object (its block state, the observations
//! reported, the events received) to one verdict with its evidence and advice.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{rules, Verdict};
use crate::domain::ObjectState;
use crate::store::observations::StoredObservation;
use crate::store::status::{HistoryEntry, ObjectStatus};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Diagnosis {
    pub verdict: Verdict,
    /// Since when the verdict holds, as far as aarc can tell.
    pub since: Option<DateTime<Utc>>,
    /// Which rule of the classifier (or `block-state`) decided.
    pub rule: String,
    pub advice: String,
    /// Observations and events about the object, oldest first.
    pub evidence: Vec<Evidence>,
    /// The block state aarc holds for the object.
    pub state: ObjectState,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Evidence {
    /// `observation` or `event`.
    pub kind: String,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation: Option<StoredObservation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

fn rule_named(name: &str) -> &'static rules::Rule {
    rules::RULES
        .iter()
        .find(|r| r.name == name)
        .unwrap_or(&rules::UNKNOWN)
}

/// The verdict: a block aarc holds wins unless the app has since read the
/// object successfully (the block may be gone: verification is pending);
/// otherwise the newest observation; otherwise what the state says.
pub fn diagnose(
    status: &ObjectStatus,
    observations: Vec<StoredObservation>,
    history: &[HistoryEntry],
) -> Diagnosis {
    let newest = observations.last();
    let blocked = status.state.is_blocked();
    let read_after_block = newest.is_some_and(|o| {
        o.verdict == "accessible"
            && status
                .blocked_since
                .is_none_or(|since| o.observed_at > since)
    });
    let (verdict, since, rule, advice) = if blocked && !read_after_block {
        let policy = rule_named("policy-header");
        let mut advice = policy.advice.to_string();
        if status.state == ObjectState::Purged {
            advice.push_str(" The app's data about it has been purged.");
        }
        (
            Verdict::BlockedByPolicy,
            status.blocked_since,
            "block-state".to_string(),
            advice,
        )
    } else if let Some(last) = newest {
        let rule = rule_named(&last.rule);
        let verdict = Verdict::parse(&last.verdict).unwrap_or(Verdict::Unknown);
        // The verdict holds since the first of the newest run of observations that agree.
        let since = observations
            .iter()
            .rev()
            .take_while(|o| o.verdict == last.verdict)
            .last()
            .map(|o| o.observed_at);
        let mut advice = rule.advice.to_string();
        if blocked {
            advice.push_str(
                " aarc still holds the object as blocked; the site is verified with Atlassian \
                 at the next reconciler pass and restored if the block is gone.",
            );
        }
        (verdict, since, last.rule.clone(), advice)
    } else if status.state == ObjectState::Restored {
        (
            Verdict::Accessible,
            None,
            "block-state".to_string(),
            "The App Access Rule that blocked this object no longer applies (verified with \
             Atlassian); the app may use its data again."
                .to_string(),
        )
    } else {
        (
            Verdict::Unknown,
            None,
            "none".to_string(),
            "aarc has received no App Access Rule event and no observation about this object. \
             Report what Atlassian answered the app (POST …/observations) to get a diagnosis."
                .to_string(),
        )
    };
    let mut evidence: Vec<Evidence> = observations
        .into_iter()
        .map(|o| Evidence {
            kind: "observation".into(),
            at: o.observed_at,
            observation: Some(o),
            event_id: None,
            event_type: None,
            mode: None,
        })
        .chain(
            history
                .iter()
                .filter(|e| e.kind == "event")
                .map(|e| Evidence {
                    kind: "event".into(),
                    at: e.at,
                    observation: None,
                    event_id: e.event_id.clone(),
                    event_type: e.event_type.clone(),
                    mode: e.mode.clone(),
                }),
        )
        .collect();
    evidence.sort_by_key(|e| e.at);
    Diagnosis {
        verdict,
        since,
        rule,
        advice,
        evidence,
        state: status.state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ObjectRef, Product};
    use chrono::Duration;

    fn status(state: ObjectState, since: Option<DateTime<Utc>>) -> ObjectStatus {
        ObjectStatus {
            object: ObjectRef::parse(Product::parse("confluence").unwrap(), "page", "1").unwrap(),
            state,
            blocked_since: since,
            purge_after: None,
            decision_id: None,
        }
    }

    fn seen(at: DateTime<Utc>, verdict: &str, rule: &str) -> StoredObservation {
        StoredObservation {
            observed_at: at,
            received_at: at,
            status: 403,
            actor: "app".into(),
            operation: "read".into(),
            message: None,
            verdict: verdict.into(),
            rule: rule.into(),
            reported_by: "svc".into(),
            effect: None,
        }
    }

    #[test]
    fn a_held_block_wins_over_older_observations() {
        let t = Utc::now();
        let d = diagnose(
            &status(ObjectState::Hidden, Some(t)),
            vec![seen(
                t - Duration::hours(1),
                "app_user_restricted",
                "app-forbidden",
            )],
            &[],
        );
        assert_eq!(d.verdict, Verdict::BlockedByPolicy);
        assert_eq!(d.since, Some(t));
    }

    #[test]
    fn a_read_after_the_block_says_accessible_and_mentions_verification() {
        let t = Utc::now();
        let d = diagnose(
            &status(ObjectState::Blocked, Some(t - Duration::days(1))),
            vec![seen(t, "accessible", "accessible")],
            &[],
        );
        assert_eq!(d.verdict, Verdict::Accessible);
        assert!(d.advice.contains("next reconciler pass"));
    }

    #[test]
    fn since_is_the_start_of_the_newest_agreeing_run() {
        let t = Utc::now();
        let obs = vec![
            seen(t - Duration::hours(5), "accessible", "accessible"),
            seen(
                t - Duration::hours(3),
                "app_user_restricted",
                "app-forbidden",
            ),
            seen(
                t - Duration::hours(1),
                "app_user_restricted",
                "app-forbidden",
            ),
        ];
        let d = diagnose(&status(ObjectState::Clear, None), obs, &[]);
        assert_eq!(d.verdict, Verdict::AppUserRestricted);
        assert_eq!(d.since, Some(t - Duration::hours(3)));
        assert_eq!(d.evidence.len(), 3);
    }

    #[test]
    fn nothing_known_is_unknown_with_advice() {
        let d = diagnose(&status(ObjectState::Clear, None), vec![], &[]);
        assert_eq!(d.verdict, Verdict::Unknown);
        assert!(d.advice.contains("observations"));
    }
}
