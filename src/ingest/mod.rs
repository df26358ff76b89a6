//! Receiving events: authenticate, split the envelope, parse each event, check
//! that the tenant owns the site each event names, then store everything in
//! one transaction, shared with concurrent requests (`group`). The caller
//! answers 2xx only when this returns Ok — after COMMIT.

pub mod auth;
pub mod connection_host;
pub mod envelope;
pub mod events;
mod forge_senders;
mod gather;
pub mod group;
pub mod remembered;
mod replies;

use std::collections::HashMap;

use secrecy::ExposeSecret;
use sqlx::PgPool;

use crate::domain::{CloudId, EventKind, EventSite, ForgeInstallation, PolicyEvent, ReceiveMode};
use crate::store::{
    self,
    inbox::{Outcome, Pending},
};
use crate::Error;
use auth::{Authenticated, RequestAuth};
pub use group::{GroupCommit, GroupSettings};
use remembered::RememberedTenants;

/// Everything the receiver needs from an HTTP request, without actix types.
pub struct WebhookRequest<'a> {
    pub auth: RequestAuth<'a>,
    pub content_type: Option<&'a str>,
    pub ce_headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

#[derive(Debug, serde::Serialize)]
pub struct EventReceipt {
    pub id: String,
    pub status: Outcome,
}

#[derive(Debug)]
pub struct Receipt {
    pub events: Vec<EventReceipt>,
    /// The site of a Forge tenant this request registered, if any.
    pub new_site: Option<String>,
}

impl Receipt {
    /// True when nothing in the request was new.
    pub fn all_duplicates(&self) -> bool {
        self.events.iter().all(|e| e.status == Outcome::Duplicate)
    }
}

pub async fn receive(
    pool: &PgPool,
    verifier: &auth::Verifier,
    committer: &GroupCommit,
    req: WebhookRequest<'_>,
) -> Result<Receipt, Error> {
    let who = auth::authenticate(pool, verifier, &req.auth).await?;
    let envelope = envelope::parse(req.content_type, &req.ce_headers, req.body)?;
    // Parsed as JSON above, so the body is UTF-8.
    let sent = envelope
        .whole_body
        .then(|| std::str::from_utf8(req.body).ok())
        .flatten();
    let events = envelope
        .events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            events::parse_as_sent(e, envelope.strict, sent).map_err(|err| match err {
                Error::InvalidRequest(d) if envelope.mode == ReceiveMode::Batch => {
                    Error::invalid(format!("batch element {i}: {d}"))
                }
                other => other,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    committer.store(who, envelope.mode, events).await
}

/// One request's part of a group: who sent it, how, and its events.
pub(crate) type Request<'a> = (&'a Authenticated, ReceiveMode, &'a [PolicyEvent]);

/// Writes the events of several requests in one transaction (usually a single
/// statement). A request that may not be stored (another tenant's site, an
/// uninstalled tenant) gets its own error and the others go on; an `Err`
/// means none of the events was committed.
pub(crate) async fn write_requests(
    conn: &mut sqlx::PgConnection,
    remembered: &RememberedTenants,
    requests: &[Request<'_>],
) -> Result<Vec<Result<Receipt, Error>>, Error> {
    let keys: Vec<(&str, &str)> = requests.iter().map(|(who, _, _)| tenant_key(who)).collect();
    // Senders as this process last read them, confirmed by the statement
    // that writes the events (it writes nothing if one has changed).
    if let Some(known) = remembered.recall(&keys) {
        let mut unchanged = store::tenants::Unchanged::default();
        for (kind, key) in &keys {
            if let Some(state) = known.get(&(kind.to_string(), key.to_string())) {
                unchanged.expect(kind, key, state);
            }
        }
        if let Some(receipts) =
            write_checked(conn, requests, &keys, &known, Some(&unchanged)).await?
        {
            return Ok(receipts);
        }
    }
    // Every sender as the tenants table knows it before anything is written.
    let known = store::tenants::install_states(conn, &keys).await?;
    remembered.remember(&keys, &known);
    let receipts = write_checked(conn, requests, &keys, &known, None).await?;
    receipts.ok_or_else(|| Error::Internal("a group expecting no tenant found one changed".into()))
}

/// `write_requests` once the senders' states are `known`. With `unchanged`
/// (the remembered states, to be confirmed by the statement) it answers
/// `None` — having written nothing — when a request is refused, when there
/// is nothing to write, when a sender is a Forge installation (registering
/// it would be a write before the events), when the group needs more than
/// one statement, or when a tenant was found changed: all of these are
/// settled after a fresh read.
async fn write_checked(
    conn: &mut sqlx::PgConnection,
    requests: &[Request<'_>],
    keys: &[(&str, &str)],
    known: &HashMap<remembered::TenantKey, store::tenants::InstallState>,
    unchanged: Option<&store::tenants::Unchanged<'_>>,
) -> Result<Option<Vec<Result<Receipt, Error>>>, Error> {
    let answers: Vec<Result<(), Error>> = requests
        .iter()
        .zip(keys)
        .map(|((who, _, events), key)| {
            check_request(
                who,
                known.get(&(key.0.to_string(), key.1.to_string())),
                events,
            )
        })
        .collect();
    // A Forge installation is registered (or refreshed) only when its
    // request is accepted: a refused request changes nothing.
    let accepted_forge: Vec<(usize, &ForgeInstallation)> = requests
        .iter()
        .zip(&answers)
        .enumerate()
        .filter_map(|(i, ((who, _, _), allowed))| match (who, allowed) {
            (Authenticated::Forge(inst), Ok(())) => Some((i, inst)),
            _ => None,
        })
        .collect();
    // Refusals are settled against a fresh read of the tenants, and so are
    // Forge senders (registering them is a write before the events).
    let refused = answers.iter().any(Result::is_err);
    if unchanged.is_some() && (refused || !accepted_forge.is_empty()) {
        return Ok(None);
    }
    let mut senders: Vec<Option<forge_senders::Registered>> = requests
        .iter()
        .zip(&answers)
        .map(|((who, _, _), allowed)| match (who, allowed) {
            (Authenticated::Connect(t), Ok(())) => Some((t.clone(), None)),
            _ => None,
        })
        .collect();
    for (i, registered) in forge_senders::register(conn, &accepted_forge).await? {
        senders[i] = Some(registered);
    }
    let mut pending = Vec::new();
    for ((_, mode, events), sender) in requests.iter().zip(&senders) {
        if let Some((tenant, _)) = sender {
            pending.extend(events.iter().map(|event| Pending {
                tenant,
                mode: *mode,
                event,
            }));
        }
    }
    let fits = store::inbox_at_once::fits(&pending);
    // So are groups needing more than one statement.
    if unchanged.is_some() && (pending.is_empty() || !fits) {
        return Ok(None);
    }
    // The usual group is one statement, atomic by itself; anything else
    // takes a few, in one transaction.
    let outcomes = if pending.is_empty() {
        Vec::new()
    } else if fits {
        let alone = store::inbox_at_once::Written::Alone;
        let none_expected = store::tenants::Unchanged::default();
        let expected = unchanged.unwrap_or(&none_expected);
        match store::inbox::record_at_once(conn, &pending, alone, expected).await? {
            Some(outcomes) => outcomes,
            None => return Ok(None),
        }
    } else {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let outcomes = store::inbox::record_in_rounds(&mut tx, &pending).await?;
        tx.commit().await?;
        outcomes
    };
    let mut outcomes = outcomes.into_iter();
    let metrics = &crate::metrics::METRICS;
    if !pending.is_empty() {
        metrics.ingest_batch_events.observe(pending.len() as f64);
    }
    let mut receipts = Vec::with_capacity(requests.len());
    let mut counted = Vec::with_capacity(pending.len());
    for (((_, mode, events), sender), allowed) in requests.iter().zip(senders).zip(answers) {
        let new_site = sender.and_then(|(_, new_site)| new_site);
        receipts.push(allowed.map(|()| {
            let receipts = events
                .iter()
                .map(|event| {
                    let status = outcomes.next().unwrap_or(Outcome::Duplicate);
                    counted.push((*mode, event, status.as_str()));
                    EventReceipt {
                        id: event.id.clone(),
                        status,
                    }
                })
                .collect();
            Receipt {
                events: receipts,
                new_site,
            }
        }));
    }
    metrics.events(counted);
    Ok(Some(receipts))
}

/// The (kind, key) naming the sender's row in the tenants table.
fn tenant_key(who: &Authenticated) -> (&'static str, &str) {
    match who {
        Authenticated::Connect(t) => ("connect", t.key.as_str()),
        Authenticated::Forge(inst) => ("forge", inst.installation_id.as_str()),
    }
}

/// May this sender store these events? Checked when they are written,
/// against the tenant as it is recorded then (`known`, if recorded at all).
fn check_request(
    who: &Authenticated,
    known: Option<&store::tenants::InstallState>,
    events: &[PolicyEvent],
) -> Result<(), Error> {
    let (cloud_id, key, installed, site_url) = match who {
        Authenticated::Connect(t) => {
            // The token was checked against a remembered secret: it must still be the one.
            let signed_with = t.shared_secret.as_ref().map(|s| s.expose_secret());
            if known.is_some_and(|s| s.shared_secret.as_deref() != signed_with) {
                return Err(Error::unauthorized(format!(
                    "the shared secret of tenant {:?} has changed; sign with the new one",
                    t.key
                )));
            }
            let site_url = known.and_then(|s| s.site_url.clone());
            (
                &t.cloud_id,
                &t.key,
                known.is_some_and(|s| s.installed),
                site_url,
            )
        }
        // The installation's token says which site it is; a new one is installed.
        Authenticated::Forge(inst) => {
            let site_url = inst
                .site_url
                .as_ref()
                .map(|u| u.origin().ascii_serialization())
                .or_else(|| known.and_then(|s| s.site_url.clone()));
            let installed = known.is_none_or(|s| s.installed);
            (&inst.cloud_id, &inst.installation_id, installed, site_url)
        }
    };
    for (i, event) in events.iter().enumerate() {
        check_sender(who, event)
            .and_then(|()| check_site(cloud_id, site_url.as_deref(), event))
            .map_err(|e| match e {
                Error::Forbidden(d) if events.len() > 1 => {
                    Error::Forbidden(format!("event {i}: {d}"))
                }
                other => other,
            })?;
    }
    let reinstalls = events.iter().any(|e| e.kind == EventKind::ForgeInstalled);
    if !installed && !reinstalls {
        return Err(Error::unauthorized(format!(
            "installation {key} is uninstalled; its events are no longer accepted"
        )));
    }
    Ok(())
}

/// Forge's lifecycle events come from Forge: a Connect tenant sending one
/// (which would uninstall or reinstall it) is refused.
fn check_sender(who: &Authenticated, event: &PolicyEvent) -> Result<(), Error> {
    let lifecycle = matches!(
        event.kind,
        EventKind::ForgeInstalled | EventKind::ForgeUninstalled
    );
    if lifecycle && matches!(who, Authenticated::Connect(_)) {
        return Err(Error::Forbidden(format!(
            "{} is a Forge lifecycle event and is accepted only with a Forge Invocation Token",
            event.event_type
        )));
    }
    Ok(())
}

/// The authenticated tenant owns the event: a payload naming another site
/// is refused whole.
fn check_site(
    cloud_id: &CloudId,
    site_url: Option<&str>,
    event: &PolicyEvent,
) -> Result<(), Error> {
    match &event.site {
        EventSite::CloudId(c) if c != cloud_id => Err(Error::Forbidden(format!(
            "the event names site {c}, but the sender is the tenant of site {cloud_id}"
        ))),
        EventSite::Url(u) => {
            let origin = u.origin().ascii_serialization();
            match site_url {
                Some(own) if !own.eq_ignore_ascii_case(&origin) => Err(Error::Forbidden(format!(
                    "the event names site {origin}, but the sender is the tenant of {own}"
                ))),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}
