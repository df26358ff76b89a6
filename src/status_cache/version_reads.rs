//! Site versions read for many requests at once. Under load every status
//! request needs its site's version; instead of a query each, requests
//! queue, and one task reads the versions of everything queued in one
//! query, then of what queued meanwhile, and so on.
//!
//! A request is only answered by a read that *started after it queued*, so
//! it sees every change committed before it arrived — the same guarantee as
//! a query of its own.
//!
//! While requests keep coming the reader keeps its pooled connection (and
//! waits `LINGER` for more before handing it back), so a read is one round
//! trip, not two with the pool's liveness ping. A read that fails on the
//! kept connection (killed, or the database restarted) is retried on up to
//! three fresh ones, at once: it is meant for killed connections, and during
//! a restart all three fail and the requests get 503.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use tokio::sync::{oneshot, Notify};

use crate::domain::CloudId;
use crate::store::status_versions;
use crate::Error;

type Answer = oneshot::Sender<Result<i64, Error>>;

/// How long the reader waits for more requests before it hands its
/// connection back and stops (short: `PgPool::close` waits for it).
const LINGER: Duration = Duration::from_millis(2);

#[derive(Default)]
struct Queue {
    reading: bool,
    waiting: Vec<(CloudId, Answer)>,
}

#[derive(Default)]
pub struct VersionReads {
    queue: Mutex<Queue>,
    queued: Notify,
}

impl VersionReads {
    pub async fn current(self: &Arc<Self>, pool: &PgPool, site: &CloudId) -> Result<i64, Error> {
        let (answer, answered) = oneshot::channel();
        let start_reader = {
            let mut queue = self.lock();
            queue.waiting.push((site.clone(), answer));
            !std::mem::replace(&mut queue.reading, true)
        };
        self.queued.notify_one();
        if start_reader {
            // Its own task: a request that goes away (its client hung up)
            // must not take the reader with it.
            let (reads, pool) = (self.clone(), pool.clone());
            tokio::spawn(async move { reads.read_while_queued(&pool).await });
        }
        answered
            .await
            .map_err(|_| Error::Internal("the version reader stopped".into()))?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn read_while_queued(&self, pool: &PgPool) {
        let mut conn: Option<PoolConnection<Postgres>> = None;
        loop {
            let batch = {
                let mut queue = self.lock();
                std::mem::take(&mut queue.waiting)
            };
            if batch.is_empty() {
                // Wait a moment for more; a request that queues after the
                // check below finds `reading` false and starts a reader.
                let more = tokio::time::timeout(LINGER, self.queued.notified()).await;
                let mut queue = self.lock();
                if more.is_err() && queue.waiting.is_empty() {
                    queue.reading = false;
                    return;
                }
                continue;
            }
            let mut sites: Vec<&str> = batch.iter().map(|(s, _)| s.as_str()).collect();
            sites.sort_unstable();
            sites.dedup();
            let versions = read(pool, &mut conn, &sites).await;
            for (site, answer) in batch {
                let version = match &versions {
                    Ok(v) => Ok(v.get(site.as_str()).copied().unwrap_or(0)),
                    Err(e) => Err(e.clone()),
                };
                let _ = answer.send(version); // the request may have gone
            }
        }
    }
}

/// Fresh connections a read is tried on after the kept one failed: an
/// operator's kill of every aarc connection reaches them one after another,
/// and may reach the fresh one while the read is on it.
const FRESH_TRIES: usize = 3;

/// The sites' versions on the kept connection, or on a fresh one when there
/// is none or the kept one fails.
async fn read(
    pool: &PgPool,
    conn: &mut Option<PoolConnection<Postgres>>,
    sites: &[&str],
) -> Result<HashMap<String, i64>, Error> {
    if let Some(kept) = conn.as_mut() {
        match status_versions::current_many(kept, sites).await {
            Ok(versions) => return Ok(versions),
            Err(_) => *conn = None, // dropped: the pool replaces it
        }
    }
    let mut tries = 1;
    loop {
        let fresh = conn.insert(pool.acquire().await?);
        match status_versions::current_many(fresh, sites).await {
            Err(Error::Unavailable(_)) if tries < FRESH_TRIES => {
                *conn = None;
                tries += 1;
            }
            Err(e) => {
                *conn = None;
                return Err(e);
            }
            ok => return ok,
        }
    }
}
