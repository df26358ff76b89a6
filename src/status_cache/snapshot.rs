//! One site's blocks held in memory: per (product, type) an `IdTable` from
//! object id to the object's attributes. Objects blocked by one event share
//! their attributes (state, first block, decision), so those are kept once
//! in a small table of distinct values and an object costs its slot in the
//! id table only (23 to 46 bytes).

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta};

use super::id_table::IdTable;
use crate::domain::{ObjectRef, ObjectState, RetentionAction};
use crate::store::policies::DefaultPolicy;
use crate::store::status::ObjectStatus;
use crate::store::status_versions::{BlockRow, PolicyRow, SiteSink};
use crate::Error;

const NO_DECISION: u32 = u32::MAX;

/// What an answer says about a blocked object, besides its name.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Attributes {
    first_blocked_micros: i64,
    /// Index into `SiteSnapshot::decisions`, or `NO_DECISION`.
    decision: u32,
    state: ObjectState,
    kept: bool,
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
    /// Keyed by product, then object type; values index `attributes`.
    blocks: HashMap<String, HashMap<String, IdTable>>,
    attributes: Vec<Attributes>,
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

    fn table(&self, object: &ObjectRef) -> Option<&IdTable> {
        self.blocks
            .get(object.product.as_str())?
            .get(&object.object_type)
    }

    /// The answers `store::status::check` gives for these objects, read from
    /// memory. The slots of all objects are read first, together, so the
    /// cache misses of a batch overlap instead of queueing one by one.
    pub fn statuses(&self, objects: Vec<ObjectRef>, defaults: &DefaultPolicy) -> Vec<ObjectStatus> {
        let mut last: Option<(&ObjectRef, Option<&IdTable>)> = None;
        let mut warm = 0u32;
        // First pass: each object's table and hash, its first slot read.
        let located: Vec<Option<(&IdTable, u64)>> = objects
            .iter()
            .map(|o| {
                // A batch is usually of one product and type.
                let table = match last {
                    Some((prev, table))
                        if prev.product == o.product && prev.object_type == o.object_type =>
                    {
                        table
                    }
                    _ => self.table(o),
                };
                last = Some((o, table));
                table.map(|t| {
                    let hash = t.hash(&o.id);
                    warm ^= t.touch(hash);
                    (t, hash)
                })
            })
            .collect();
        std::hint::black_box(warm);
        // Second pass: the probes, now mostly cache hits.
        objects
            .into_iter()
            .zip(located)
            .map(|(object, located)| {
                match located.and_then(|(t, hash)| t.get_hashed(hash, &object.id)) {
                    None => ObjectStatus::clear(object),
                    Some(i) => self.answer(object, self.attributes[i as usize], defaults),
                }
            })
            .collect()
    }

    /// One object's answer (`statuses` for a single object).
    #[cfg(test)]
    pub fn status(&self, object: ObjectRef, defaults: &DefaultPolicy) -> ObjectStatus {
        self.statuses(vec![object], defaults)
            .pop()
            .expect("one answer per object")
    }

    fn answer(&self, object: ObjectRef, a: Attributes, defaults: &DefaultPolicy) -> ObjectStatus {
        let blocked_since = DateTime::from_timestamp_micros(a.first_blocked_micros);
        let policy = self
            .policies
            .get(object.product.as_str())
            .and_then(|p| p.get(&object.object_type));
        let (action, grace) = match policy {
            Some(p) => (p.action, p.grace),
            None => (defaults.action, whole_seconds(defaults.grace.as_duration())),
        };
        let purge_after =
            (action == RetentionAction::Purge && !a.kept && counts_toward_purge(a.state))
                .then_some(blocked_since)
                .flatten()
                .and_then(|since| since.checked_add_signed(grace));
        ObjectStatus {
            object,
            state: a.state,
            blocked_since,
            purge_after,
            decision_id: self.decisions.get(a.decision as usize).copied(),
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

/// The ids of one product and type as they stream in, back to back, with
/// their attribute numbers; turned into an `IdTable` once all are in.
#[derive(Default)]
struct Arriving {
    ids: String,
    rows: Vec<(u32, u32, u32)>,
}

const TOO_MANY_OBJECTS: &str = "the site holds more blocked objects than the status cache may";

/// Builds a snapshot from the rows `store::status_versions::read_site`
/// streams, refusing to grow past `max_objects`.
pub struct SnapshotBuilder {
    max_objects: usize,
    too_large: bool,
    version: i64,
    objects: usize,
    arriving: HashMap<String, HashMap<String, Arriving>>,
    attributes: Vec<Attributes>,
    attribute_index: HashMap<Attributes, u32>,
    policies: HashMap<String, HashMap<String, Policy>>,
    decisions: Vec<uuid::Uuid>,
    decision_index: HashMap<uuid::Uuid, u32>,
}

impl SnapshotBuilder {
    pub fn new(max_objects: usize) -> Self {
        Self {
            max_objects,
            too_large: false,
            version: 0,
            objects: 0,
            arriving: HashMap::new(),
            attributes: Vec::new(),
            attribute_index: HashMap::new(),
            policies: HashMap::new(),
            decisions: Vec::new(),
            decision_index: HashMap::new(),
        }
    }

    /// Whether the read stopped because the site has more than `max_objects`.
    pub fn too_large(&self) -> bool {
        self.too_large
    }

    pub fn finish(self) -> SiteSnapshot {
        let blocks = self
            .arriving
            .into_iter()
            .map(|(product, types)| {
                let tables = types
                    .into_iter()
                    .map(|(object_type, a)| {
                        let mut table = IdTable::with_capacity(a.rows.len());
                        for (start, len, attributes) in a.rows {
                            table
                                .insert(&a.ids[start as usize..(start + len) as usize], attributes);
                        }
                        (object_type, table)
                    })
                    .collect();
                (product, tables)
            })
            .collect();
        SiteSnapshot {
            version: self.version,
            objects: self.objects,
            blocks,
            attributes: self.attributes,
            policies: self.policies,
            decisions: self.decisions,
        }
    }

    fn refuse(&mut self) -> Result<(), Error> {
        self.too_large = true;
        Err(Error::Internal(TOO_MANY_OBJECTS.into()))
    }
}

impl SiteSink for SnapshotBuilder {
    fn version(&mut self, version: i64) {
        self.version = version;
    }

    fn policy(&mut self, p: PolicyRow) {
        let grace = TimeDelta::try_seconds(p.grace_secs).unwrap_or(TimeDelta::MAX);
        self.policies.entry(p.product).or_default().insert(
            p.object_type,
            Policy {
                action: p.action,
                grace,
            },
        );
    }

    fn block(&mut self, b: BlockRow) -> Result<(), Error> {
        if self.objects >= self.max_objects {
            return self.refuse();
        }
        let decision = match b.decision_id {
            None => NO_DECISION,
            Some(id) => {
                let next = self.decisions.len() as u32;
                *self.decision_index.entry(id).or_insert_with(|| {
                    self.decisions.push(id);
                    next
                })
            }
        };
        let attributes = Attributes {
            first_blocked_micros: b.first_blocked_at.timestamp_micros(),
            decision,
            state: b.state,
            kept: b.kept,
        };
        let next = self.attributes.len() as u32;
        let attribute = *self.attribute_index.entry(attributes).or_insert_with(|| {
            self.attributes.push(attributes);
            next
        });
        let a = self
            .arriving
            .entry(b.product)
            .or_default()
            .entry(b.object_type)
            .or_default();
        // Offsets are 32-bit: a type whose ids exceed 4 GiB is too large.
        let offsets = u32::try_from(a.ids.len())
            .ok()
            .zip(u32::try_from(b.object_id.len()).ok());
        let Some((start, len)) = offsets.filter(|(s, l)| s.checked_add(*l).is_some()) else {
            return self.refuse();
        };
        a.ids.push_str(&b.object_id);
        a.rows.push((start, len, attribute));
        self.objects += 1;
        Ok(())
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
