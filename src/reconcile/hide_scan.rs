//! Finding the blocked objects a pass hides without an index entry per block.
//!
//! Every ingested block starts as `blocked`, so an index holding blocked
//! rows would cost each ingested object an index insert (migration
//! 20261202000003 dropped them from the work index). A site's blocked rows
//! are instead read by the primary key's site prefix — but only for sites
//! that changed since this process last scanned them: every write that can
//! make a row hideable (a new block, a block cycle restarting, `kept`
//! cleared, a retention policy changed) raises the site's change counter
//! (`status_versions`), and the counter is read *before* the scan, so a
//! change committed during the scan leaves the site due for the next pass.
//! A new process remembers nothing and scans every site once (the default
//! policy, which lives in the configuration, may have changed).

use std::collections::HashMap;
use std::sync::Mutex;

use sqlx::PgConnection;

use crate::store::reconcile::{self as steps, HideCursor, PassContext};
use crate::store::status_versions;
use crate::Error;

/// Objects claimed per hide statement.
const HIDE_CHUNK: i64 = 20_000;

/// The change counter each site had when its last complete hide scan began.
#[derive(Default)]
pub struct ScannedSites {
    versions: Mutex<HashMap<String, i64>>,
}

impl ScannedSites {
    fn is_current(&self, site: &str, version: i64) -> bool {
        self.lock().get(site) == Some(&version)
    }

    fn record(&self, site: String, version: i64) {
        self.lock().insert(site, version);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        // The map holds plain numbers: a panic elsewhere cannot leave it
        // half-written, so a poisoned lock is still usable.
        self.versions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Hides what policy hides on every site that changed since its last scan
/// (every site when `scanned` is `None`: a dry run, whose work is rolled
/// back and so must not be remembered). Each chunk is its own transaction,
/// which keeps locks short. Returns the objects hidden.
pub async fn hide_all(
    conn: &mut PgConnection,
    ctx: &PassContext,
    scanned: Option<&ScannedSites>,
) -> Result<i64, Error> {
    let mut total = 0;
    for (site, version) in status_versions::all_sites(conn).await? {
        if scanned.is_some_and(|s| s.is_current(&site, version)) {
            continue;
        }
        let (hidden, complete) = hide_site(conn, ctx, &site).await?;
        total += hidden;
        if let Some(scanned) = scanned.filter(|_| complete) {
            scanned.record(site, version);
        }
    }
    Ok(total)
}

/// Walks one site; returns the objects hidden and whether every row to
/// hide was taken (none skipped: the site need not be scanned again until
/// its counter moves).
async fn hide_site(
    conn: &mut PgConnection,
    ctx: &PassContext,
    site: &str,
) -> Result<(i64, bool), Error> {
    let (mut total, mut complete, mut after) = (0, true, HideCursor::default());
    loop {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let chunk = steps::hide_chunk(&mut tx, ctx, site, &after, HIDE_CHUNK).await?;
        tx.commit().await?;
        total += chunk.hidden;
        complete &= !chunk.skipped;
        match chunk.next {
            Some(cursor) => after = cursor,
            None => return Ok((total, complete)),
        }
    }
}
