//! One site's blocks held in memory, compactly: per (product, type) the ids
//! sit back to back in one string, fixed-size entries point into it, and a
//! hash table of entry numbers finds an id with a cache miss or two (a
//! binary search over a million entries costs some forty, and was most of a
//! batch check's time). An object costs about 35 bytes instead of a map
//! entry with its own allocations.

use std::collections::HashMap;
use std::hash::BuildHasher;

use chrono::{DateTime, TimeDelta};
use hashbrown::HashTable;

use crate::domain::{ObjectRef, ObjectState, RetentionAction};
use crate::store::policies::DefaultPolicy;
use crate::store::status::ObjectStatus;
use crate::store::status_versions::{BlockRow, PolicyRow, SiteSink};
use crate::Error;

const NO_DECISION: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Entry {
    id_start: u32,
    id_len: u32,
    first_blocked_micros: i64,
    /// Index into `SiteSnapshot::decisions`, or `NO_DECISION`.
    decision: u32,
    state: ObjectState,
    kept: bool,
}

#[derive(Default)]
struct TypeBlocks {
    ids: String,
    entries: Vec<Entry>,
    /// Entry numbers, by the hash of their id; built by `index`.
    by_id: HashTable<u32>,
    hasher: std::hash::RandomState,
}

impl TypeBlocks {
    fn id_of(&self, e: &Entry) -> &str {
        &self.ids[e.id_start as usize..(e.id_start + e.id_len) as usize]
    }

    fn find(&self, id: &str) -> Option<&Entry> {
        let hash = self.hasher.hash_one(id);
        self.by_id
            .find(hash, |&i| self.id_of(&self.entries[i as usize]) == id)
            .map(|&i| &self.entries[i as usize])
    }

    /// Builds the hash table once every entry is in (sized up front, so no
    /// entry is hashed twice).
    fn index(&mut self) {
        let mut by_id = HashTable::with_capacity(self.entries.len());
        for (i, e) in self.entries.iter().enumerate() {
            let hash = self.hasher.hash_one(self.id_of(e));
            by_id.insert_unique(hash, i as u32, |_| unreachable!("sized for every entry"));
        }
        self.by_id = by_id;
        self.entries.shrink_to_fit();
        self.ids.shrink_to_fit();
    }
}

struct Policy {
    action: RetentionAction,
    grace: TimeDelta,
}

/// A site's blocks and policies as of one database snapshot, tagged with
/// the site's version in that snapshot.
pub struct SiteSnapshot {
    version: i64,
    objects: usize,
    /// Keyed by product, then object type.
    blocks: HashMap<String, HashMap<String, TypeBlocks>>,
    policies: HashMap<String, HashMap<String, Policy>>,
    decisions: Vec<uuid::Uuid>,
}

impl SiteSnapshot {
    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn objects(&self) -> usize {
        self.objects
    }

    /// The same answer `store::status::check` gives for this object, read
    /// from memory.
    pub fn status(&self, object: ObjectRef, defaults: &DefaultPolicy) -> ObjectStatus {
        let (product, object_type) = (object.product.as_str(), object.object_type.as_str());
        let Some(entry) = self
            .blocks
            .get(product)
            .and_then(|types| types.get(object_type))
            .and_then(|t| t.find(&object.id))
        else {
            return ObjectStatus::clear(object);
        };
        let blocked_since = DateTime::from_timestamp_micros(entry.first_blocked_micros);
        let policy = self.policies.get(product).and_then(|p| p.get(object_type));
        let (action, grace) = match policy {
            Some(p) => (p.action, p.grace),
            None => (defaults.action, whole_seconds(defaults.grace.as_duration())),
        };
        let purge_after =
            (action == RetentionAction::Purge && !entry.kept && counts_toward_purge(entry.state))
                .then_some(blocked_since)
                .flatten()
                .and_then(|since| since.checked_add_signed(grace));
        ObjectStatus {
            object,
            state: entry.state,
            blocked_since,
            purge_after,
            decision_id: self.decisions.get(entry.decision as usize).copied(),
        }
    }
}

/// States whose data a purge policy will (or did) delete; `restored` and
/// `clear` have no purge date. Mirrors the SQL of `store::status`.
fn counts_toward_purge(state: ObjectState) -> bool {
    matches!(
        state,
        ObjectState::Blocked
            | ObjectState::Hidden
            | ObjectState::PendingReview
            | ObjectState::Purging
            | ObjectState::Purged
    )
}

/// The database adds the default grace in whole seconds; so does this.
fn whole_seconds(d: std::time::Duration) -> TimeDelta {
    TimeDelta::try_seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(TimeDelta::MAX)
}

/// Builds a snapshot from the rows `store::status_versions::read_site`
/// streams, refusing to grow past `max_objects`.
pub struct SnapshotBuilder {
    max_objects: usize,
    too_large: bool,
    snapshot: SiteSnapshot,
    decision_index: HashMap<uuid::Uuid, u32>,
}

impl SnapshotBuilder {
    pub fn new(max_objects: usize) -> Self {
        Self {
            max_objects,
            too_large: false,
            snapshot: SiteSnapshot {
                version: 0,
                objects: 0,
                blocks: HashMap::new(),
                policies: HashMap::new(),
                decisions: Vec::new(),
            },
            decision_index: HashMap::new(),
        }
    }

    /// Whether the read stopped because the site has more than `max_objects`.
    pub fn too_large(&self) -> bool {
        self.too_large
    }

    pub fn finish(mut self) -> SiteSnapshot {
        for t in self
            .snapshot
            .blocks
            .values_mut()
            .flat_map(|types| types.values_mut())
        {
            t.index();
        }
        self.snapshot
    }
}

const TOO_MANY_OBJECTS: &str = "the site holds more blocked objects than the status cache may";

impl SiteSink for SnapshotBuilder {
    fn version(&mut self, version: i64) {
        self.snapshot.version = version;
    }

    fn policy(&mut self, p: PolicyRow) {
        let grace = TimeDelta::try_seconds(p.grace_secs).unwrap_or(TimeDelta::MAX);
        self.snapshot.policies.entry(p.product).or_default().insert(
            p.object_type,
            Policy {
                action: p.action,
                grace,
            },
        );
    }

    fn block(&mut self, b: BlockRow) -> Result<(), Error> {
        if self.snapshot.objects >= self.max_objects {
            self.too_large = true;
            return Err(Error::Internal(TOO_MANY_OBJECTS.into()));
        }
        let decision = match b.decision_id {
            None => NO_DECISION,
            Some(id) => {
                let next = self.snapshot.decisions.len() as u32;
                *self.decision_index.entry(id).or_insert_with(|| {
                    self.snapshot.decisions.push(id);
                    next
                })
            }
        };
        let t = self
            .snapshot
            .blocks
            .entry(b.product)
            .or_default()
            .entry(b.object_type)
            .or_default();
        // Offsets are 32-bit: a type whose ids exceed 4 GiB is too large.
        let offsets = u32::try_from(t.ids.len())
            .ok()
            .zip(u32::try_from(b.object_id.len()).ok());
        let Some((id_start, id_len)) = offsets.filter(|(s, l)| s.checked_add(*l).is_some()) else {
            self.too_large = true;
            return Err(Error::Internal(TOO_MANY_OBJECTS.into()));
        };
        t.ids.push_str(&b.object_id);
        t.entries.push(Entry {
            id_start,
            id_len,
            first_blocked_micros: b.first_blocked_at.timestamp_micros(),
            decision,
            state: b.state,
            kept: b.kept,
        });
        self.snapshot.objects += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
        let after =
            |s: &SiteSnapshot, id: &str, d: &DefaultPolicy| s.status(page(id), d).purge_after;
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
        let d = defaults(RetentionAction::Hide);
        assert_eq!(snap.status(page("y"), &d).decision_id, Some(decision));
        assert_eq!(snap.objects(), 2);
    }
}
