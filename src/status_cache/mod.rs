//! Batch status checks answered from memory.
//!
//! PostgreSQL answers a 1000-object check with 1000 index probes — tens of
//! milliseconds on two cores under load. This cache keeps a copy of each
//! checked site's blocks (`SiteSnapshot`) and answers from it while the
//! site's version (`store::status_versions`) still equals the one the copy
//! was read with: one tiny query instead of 1000 probes, and never an answer
//! older than the last committed change, whichever replica made it.
//!
//! Versions are read for all queued requests at once (`version_reads`), so
//! under load a query serves several requests. Single-object statuses use
//! the same copies.
//!
//! A site without a current copy is answered by the database as before,
//! and a copy is (re)read in the background — at most two reads at once, and
//! a site that keeps changing is read again only after a pause a few times
//! as long as its last read, so a busy site costs the database a bounded share.
//! The copies together hold at most `AARC_STATUS_CACHE_OBJECTS` objects; the
//! least recently checked sites make room, and a site larger than that is
//! always answered by the database.

mod id_table;
mod snapshot;
mod version_reads;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::domain::{CloudId, ObjectRef};
use crate::store::policies::DefaultPolicy;
use crate::store::status::{self, ObjectStatus};
use crate::store::status_versions;
use crate::Error;
pub use snapshot::SiteSnapshot;
use snapshot::SnapshotBuilder;
use version_reads::VersionReads;

/// Shortest pause between two reads of one site.
const MIN_RELOAD_PAUSE: Duration = Duration::from_millis(250);
/// A read's pause is this many times as long as the read took.
const RELOAD_PAUSE_FACTOR: u32 = 4;
/// How long a site too large for the cache (or whose read failed) is left
/// to the database before it is tried again.
const TOO_LARGE_PAUSE: Duration = Duration::from_secs(600);
const FAILED_PAUSE: Duration = Duration::from_secs(5);
/// Background reads at once.
const CONCURRENT_READS: usize = 2;

/// Where an answer came from (the `aarc-answered-from` header and a metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnsweredFrom {
    Memory,
    Database,
}

impl AnsweredFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Database => "database",
        }
    }
}

#[derive(Default)]
struct SiteEntry {
    copy: Option<Arc<SiteSnapshot>>,
    reading: bool,
    last_checked: Option<Instant>,
    next_read_at: Option<Instant>,
}

#[derive(Default)]
struct Sites {
    by_site: HashMap<String, SiteEntry>,
    objects_held: usize,
}

pub struct StatusCache {
    max_objects: usize,
    sites: Mutex<Sites>,
    reads: Arc<tokio::sync::Semaphore>,
    versions: Arc<VersionReads>,
}

impl StatusCache {
    /// `max_objects` = 0 turns the cache off: every check goes to the database.
    pub fn new(max_objects: usize) -> Arc<Self> {
        Arc::new(Self {
            max_objects,
            sites: Mutex::new(Sites::default()),
            reads: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_READS)),
            versions: Arc::default(),
        })
    }

    /// Statuses of `objects` in input order, from a current copy when there
    /// is one (one query: the site's version), else from the database.
    pub async fn check(
        self: &Arc<Self>,
        pool: &PgPool,
        defaults: &DefaultPolicy,
        site: &CloudId,
        objects: Vec<ObjectRef>,
    ) -> Result<(Vec<ObjectStatus>, AnsweredFrom), Error> {
        if let Some(copy) = self.current_copy(pool, site).await? {
            return Ok((copy.statuses(objects, defaults), AnsweredFrom::Memory));
        }
        let answer = status::check(pool, defaults, site, &objects).await?;
        self.read_later(pool, site);
        Ok((answer, AnsweredFrom::Database))
    }

    /// One object's status, the same way.
    pub async fn one(
        self: &Arc<Self>,
        pool: &PgPool,
        defaults: &DefaultPolicy,
        site: &CloudId,
        object: ObjectRef,
    ) -> Result<(ObjectStatus, AnsweredFrom), Error> {
        if let Some(copy) = self.current_copy(pool, site).await? {
            let mut answer = copy.statuses(vec![object], defaults);
            let status = answer.pop().expect("one answer per object");
            return Ok((status, AnsweredFrom::Memory));
        }
        let answer = status::one(pool, defaults, site, &object).await?;
        self.read_later(pool, site);
        Ok((answer, AnsweredFrom::Database))
    }

    /// The site's copy if it is current: read with the version the site has now.
    async fn current_copy(
        &self,
        pool: &PgPool,
        site: &CloudId,
    ) -> Result<Option<Arc<SiteSnapshot>>, Error> {
        if self.max_objects == 0 {
            return Ok(None);
        }
        let Some(copy) = self.copy_of(site) else {
            return Ok(None);
        };
        let version = self.versions.current(pool, site).await?;
        Ok((version == copy.version()).then_some(copy))
    }

    /// Objects held in memory over all sites.
    pub fn objects_held(&self) -> usize {
        self.lock().objects_held
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sites> {
        // A panic while holding the lock cannot leave the map half-changed
        // in a way that matters: at worst a site is read again.
        self.sites.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn copy_of(&self, site: &CloudId) -> Option<Arc<SiteSnapshot>> {
        let mut sites = self.lock();
        let entry = sites.by_site.get_mut(site.as_str())?;
        entry.last_checked = Some(Instant::now());
        entry.copy.clone()
    }

    /// Starts a background read of the site unless one runs or it is too soon.
    fn read_later(self: &Arc<Self>, pool: &PgPool, site: &CloudId) {
        let now = Instant::now();
        {
            let mut sites = self.lock();
            let entry = sites.by_site.entry(site.as_str().to_owned()).or_default();
            entry.last_checked = Some(now);
            if entry.reading || entry.next_read_at.is_some_and(|at| now < at) {
                return;
            }
            entry.reading = true;
        }
        let (cache, pool, site) = (self.clone(), pool.clone(), site.clone());
        tokio::spawn(async move {
            let Ok(_permit) = cache.reads.clone().acquire_owned().await else {
                return;
            };
            let started = Instant::now();
            let mut builder = SnapshotBuilder::new(cache.max_objects);
            let read = status_versions::read_site(&pool, &site, &mut builder).await;
            let took = started.elapsed();
            let (copy, pause) = match read {
                Ok(()) => {
                    let pause = (took * RELOAD_PAUSE_FACTOR).max(MIN_RELOAD_PAUSE);
                    (Some(Arc::new(builder.finish())), pause)
                }
                Err(_) if builder.too_large() => {
                    tracing::info!(site = %site, max = cache.max_objects, "status cache: site too large, answered by the database");
                    (None, TOO_LARGE_PAUSE)
                }
                Err(e) => {
                    tracing::warn!(site = %site, error = %e, "status cache: reading the site failed");
                    (None, FAILED_PAUSE)
                }
            };
            cache.store(&site, copy, Instant::now() + pause);
        });
    }

    /// Keeps a fresh copy (or notes there is none) and makes room for it by
    /// dropping the copies of the least recently checked other sites.
    fn store(&self, site: &CloudId, copy: Option<Arc<SiteSnapshot>>, next_read_at: Instant) {
        let mut sites = self.lock();
        let added = copy.as_ref().map_or(0, |c| c.objects());
        let entry = sites.by_site.entry(site.as_str().to_owned()).or_default();
        entry.reading = false;
        entry.next_read_at = Some(next_read_at);
        let removed = entry.copy.take().map_or(0, |c| c.objects());
        entry.copy = copy;
        sites.objects_held = sites.objects_held + added - removed;
        while sites.objects_held > self.max_objects {
            let oldest = sites
                .by_site
                .iter()
                .filter(|(name, e)| e.copy.is_some() && name.as_str() != site.as_str())
                .min_by_key(|(_, e)| e.last_checked)
                .map(|(name, _)| name.clone());
            let Some(oldest) = oldest else { break };
            if let Some(dropped) = sites.by_site.get_mut(&oldest).and_then(|e| e.copy.take()) {
                sites.objects_held -= dropped.objects();
            }
        }
        crate::metrics::METRICS
            .status_cache_objects
            .set(sites.objects_held as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::status_versions::{BlockRow, SiteSink};

    fn copy(objects: usize) -> Arc<SiteSnapshot> {
        let mut b = SnapshotBuilder::new(objects);
        for i in 0..objects {
            b.block(BlockRow {
                product: "jira".into(),
                object_type: "issue".into(),
                object_id: i.to_string(),
                state: crate::domain::ObjectState::Blocked,
                kept: false,
                first_blocked_at: chrono::Utc::now(),
                decision_id: None,
            })
            .unwrap();
        }
        Arc::new(b.finish())
    }

    fn site(name: &str) -> CloudId {
        CloudId::parse(name).unwrap()
    }

    #[test]
    fn the_least_recently_checked_copies_make_room() {
        let cache = StatusCache::new(10);
        let later = Instant::now();
        cache.store(&site("a"), Some(copy(4)), later);
        cache.store(&site("b"), Some(copy(4)), later);
        assert_eq!(cache.objects_held(), 8);
        // "a" is checked after "b", so "b" goes when "c" needs room.
        assert!(cache.copy_of(&site("a")).is_some());
        cache.store(&site("c"), Some(copy(4)), later);
        assert_eq!(cache.objects_held(), 8);
        assert!(cache.copy_of(&site("b")).is_none());
        assert!(cache.copy_of(&site("a")).is_some());
        // A newer copy of a site replaces its old one.
        cache.store(&site("c"), Some(copy(2)), later);
        assert_eq!(cache.objects_held(), 6);
        cache.store(&site("c"), None, later);
        assert_eq!(cache.objects_held(), 4);
    }
}
