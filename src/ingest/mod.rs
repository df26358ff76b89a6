//! Receiving events: authenticate, split the envelope, parse each event, check
//! that the tenant owns the site each event names, then store everything in
//! one transaction. The caller answers 2xx only when this returns Ok — after
//! COMMIT.

pub mod auth;
pub mod envelope;
pub mod events;

use sqlx::PgPool;

use crate::domain::{EventKind, EventSite, PolicyEvent, ReceiveMode, Tenant};
use crate::store::{self, inbox::Outcome};
use crate::Error;
use auth::{Authenticated, RequestAuth};

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
    forge: &auth::forge::ForgeVerifier,
    req: WebhookRequest<'_>,
) -> Result<Receipt, Error> {
    let who = auth::authenticate(pool, forge, &req.auth).await?;
    let envelope = envelope::parse(req.content_type, &req.ce_headers, req.body)?;
    let events = envelope
        .events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            events::parse(e, envelope.strict).map_err(|err| match err {
                Error::InvalidRequest(d) if envelope.mode == ReceiveMode::Batch => {
                    Error::invalid(format!("batch element {i}: {d}"))
                }
                other => other,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    store_events(pool, &who, envelope.mode, &events).await
}

async fn store_events(
    pool: &PgPool,
    who: &Authenticated,
    mode: ReceiveMode,
    events: &[PolicyEvent],
) -> Result<Receipt, Error> {
    let mut tx = pool.begin().await?;
    let (tenant, site_url, new_site) = match who {
        Authenticated::Connect(t) => {
            let site = store::tenants::site_url(&mut tx, t.id).await?;
            (t.clone(), site, None)
        }
        Authenticated::Forge(inst) => {
            let (t, created) = store::tenants::upsert_forge(&mut tx, inst).await?;
            let site = store::tenants::site_url(&mut tx, t.id).await?;
            let new_site = created.then(|| t.cloud_id.to_string());
            (t, site, new_site)
        }
    };
    for (i, event) in events.iter().enumerate() {
        check_sender(who, event)
            .and_then(|()| check_site(&tenant, site_url.as_deref(), event))
            .map_err(|e| match e {
                Error::Forbidden(d) if events.len() > 1 => {
                    Error::Forbidden(format!("event {i}: {d}"))
                }
                other => other,
            })?;
    }
    let reinstalls = events.iter().any(|e| e.kind == EventKind::ForgeInstalled);
    if !tenant.installed && !reinstalls {
        return Err(Error::unauthorized(format!(
            "installation {} is uninstalled; its events are no longer accepted",
            tenant.key
        )));
    }
    let mut receipts = Vec::with_capacity(events.len());
    for event in events {
        let status = store::inbox::record(&mut tx, &tenant, mode, event).await?;
        receipts.push(EventReceipt {
            id: event.id.clone(),
            status,
        });
    }
    tx.commit().await?;
    let metrics = &crate::metrics::METRICS;
    metrics.ingest_batch_events.observe(events.len() as f64);
    for (event, receipt) in events.iter().zip(&receipts) {
        metrics.event(mode, event, receipt.status.as_str());
    }
    Ok(Receipt {
        events: receipts,
        new_site,
    })
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
fn check_site(tenant: &Tenant, site_url: Option<&str>, event: &PolicyEvent) -> Result<(), Error> {
    match &event.site {
        EventSite::CloudId(c) if *c != tenant.cloud_id => Err(Error::Forbidden(format!(
            "the event names site {c}, but the sender is the tenant of site {}",
            tenant.cloud_id
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
