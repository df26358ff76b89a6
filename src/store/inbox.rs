//! The inbox (every acknowledged event, once) and the block tables it feeds.
//! The events of one request — or of a group of concurrent requests — are
//! written in one transaction; the caller answers 2xx only after `commit`
//! returns.

use sqlx::PgConnection;

use crate::domain::{EventKind, PolicyEvent, ReceiveMode, Tenant};
use crate::store::blocks::{self, ObjectBlock};
use crate::store::inbox_at_once::{self, Written};
use crate::store::tenants;
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Applied,
    Ignored,
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Ignored => "ignored",
            Self::Duplicate => "duplicate",
        }
    }
}

/// One event to record, with who sent it and how.
pub struct Pending<'a> {
    pub tenant: &'a Tenant,
    pub mode: ReceiveMode,
    pub event: &'a PolicyEvent,
}

/// Records one event and applies its effect, unless (site, source, id) was
/// seen before, in which case nothing at all changes.
pub async fn record(
    conn: &mut PgConnection,
    tenant: &Tenant,
    mode: ReceiveMode,
    event: &PolicyEvent,
) -> Result<Outcome, Error> {
    let outcomes = record_all(
        conn,
        &[Pending {
            tenant,
            mode,
            event,
        }],
    )
    .await?;
    Ok(outcomes[0])
}

/// Records many events (those of a group commit) in a few set-based
/// statements — usually one — and applies their effects as if they had come one by one, in
/// the order given: an event whose (site, source, id) was seen before — or
/// appears earlier in `events` — is a duplicate and changes nothing.
async fn record_all(
    conn: &mut PgConnection,
    events: &[Pending<'_>],
) -> Result<Vec<Outcome>, Error> {
    if inbox_at_once::fits(events) {
        record_at_once(conn, events, Written::InTransaction, &Default::default())
            .await?
            .ok_or_else(nothing_expected_changed)
    } else {
        record_in_rounds(conn, events).await
    }
}

/// `record_all` for events `inbox_at_once::fits` accepted: one statement,
/// atomic by itself; `written` says whether it is a transaction of its own
/// (the group commit's usual case, which may try the faster form first).
/// Writes nothing and answers `None` when a tenant is no longer as
/// `unchanged` expects.
pub async fn record_at_once(
    conn: &mut PgConnection,
    events: &[Pending<'_>],
    written: Written,
    unchanged: &tenants::Unchanged<'_>,
) -> Result<Option<Vec<Outcome>>, Error> {
    let Some(stored) = inbox_at_once::write(conn, events, true, written, unchanged).await? else {
        return Ok(None);
    };
    Ok(Some(
        events
            .iter()
            .zip(stored)
            .map(|(p, stored)| match stored {
                None => Outcome::Duplicate,
                Some(_) if p.event.is_ignored() => Outcome::Ignored,
                Some(_) => Outcome::Applied,
            })
            .collect(),
    ))
}

/// A statement that expected no tenant found one changed: a bug, not input.
fn nothing_expected_changed() -> Error {
    Error::Internal("a statement expecting no tenant reported one changed".into())
}

/// `record_all` for any events: a few statements, which the caller runs in
/// one transaction.
pub async fn record_in_rounds(
    conn: &mut PgConnection,
    events: &[Pending<'_>],
) -> Result<Vec<Outcome>, Error> {
    let stored = inbox_at_once::write(
        conn,
        events,
        false,
        Written::InTransaction,
        &Default::default(),
    )
    .await?
    .ok_or_else(nothing_expected_changed)?;
    let mut outcomes = Vec::with_capacity(events.len());
    let mut object_blocks = Vec::new();
    for (pending, stored) in events.iter().zip(&stored) {
        let Some((inbox_id, received_at)) = *stored else {
            outcomes.push(Outcome::Duplicate);
            continue;
        };
        let (tenant, event) = (pending.tenant, pending.event);
        // A block counts from the earlier of the event's own time and its receipt.
        let blocked_at = event.time.map_or(received_at, |t| t.min(received_at));
        let cloud_id = tenant.cloud_id.as_str();
        match &event.kind {
            EventKind::ObjectsBlocked(objects) => object_blocks.push(
                objects
                    .iter()
                    .map(|object| ObjectBlock {
                        cloud_id,
                        object,
                        blocked_at,
                        inbox_id,
                    })
                    .collect::<Vec<_>>(),
            ),
            EventKind::ContentBlockedInContainer(container) => {
                blocks::block_container(conn, cloud_id, container, blocked_at, inbox_id).await?
            }
            EventKind::ForgeInstalled => tenants::set_installed(conn, tenant.id, true).await?,
            EventKind::ForgeUninstalled => tenants::set_installed(conn, tenant.id, false).await?,
            EventKind::Unknown => {
                outcomes.push(Outcome::Ignored);
                continue;
            }
        }
        outcomes.push(Outcome::Applied);
    }
    blocks::block_objects(conn, &object_blocks).await?;
    Ok(outcomes)
}
