//! Site versions read for many requests at once. Under load every status
//! request needs its site's version; instead of a query each, requests
//! queue, and one task reads the versions of everything queued in one
//! query, then of what queued meanwhile, and so on.
//!
//! A request is only answered by a read that *started after it queued*, so
//! it sees every change committed before it arrived — the same guarantee as
//! a query of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use tokio::sync::oneshot;

use crate::domain::CloudId;
use crate::store::status_versions;
use crate::Error;

type Answer = oneshot::Sender<Result<i64, Error>>;

#[derive(Default)]
struct Queue {
    reading: bool,
    waiting: Vec<(CloudId, Answer)>,
}

#[derive(Default)]
pub struct VersionReads {
    queue: Mutex<Queue>,
}

impl VersionReads {
    pub async fn current(self: &Arc<Self>, pool: &PgPool, site: &CloudId) -> Result<i64, Error> {
        let (answer, answered) = oneshot::channel();
        let start_reader = {
            let mut queue = self.lock();
            queue.waiting.push((site.clone(), answer));
            !std::mem::replace(&mut queue.reading, true)
        };
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
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.reading = false;
                    return;
                }
                std::mem::take(&mut queue.waiting)
            };
            let mut sites: Vec<&str> = batch.iter().map(|(s, _)| s.as_str()).collect();
            sites.sort_unstable();
            sites.dedup();
            let versions: Result<HashMap<String, i64>, Error> =
                status_versions::current_many(pool, &sites).await;
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
