//! The inbox insert of a group of events, as one statement. For the common
//! group — object blocks, each object named by one event — the blocks those
//! events cause go in the same statement, so the group costs one round trip
//! and one commit. The statement comes in two forms: an optimistic one for
//! new events on new objects (the usual case, and the cheaper one) and a
//! careful one that tolerates what is already stored.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::blocks::{key_order, write_blocks, Existing};
use super::inbox::Pending;
use super::tenants::{unchanged_sql, Unchanged};
use crate::domain::{EventKind, ObjectRef};
use crate::Error;

/// Whether `record` can write these events: only object blocks and ignored
/// events, and no object named by two different events (PostgreSQL would
/// refuse to update its row twice in one statement).
pub fn fits(events: &[Pending<'_>]) -> bool {
    let mut naming_objects = 0;
    for p in events {
        match &p.event.kind {
            EventKind::ObjectsBlocked(_) => naming_objects += 1,
            EventKind::Unknown => {}
            _ => return false,
        }
    }
    // One event cannot name an object that another names: hashing a large
    // event's 10,000 objects only to learn that was a third of aarc's work.
    if naming_objects <= 1 {
        return true;
    }
    let mut keys = HashSet::new();
    let mut objects: HashSet<(&str, &ObjectRef)> = HashSet::new();
    for p in events {
        if !keys.insert(key(p)) {
            continue; // a copy: its objects are not applied
        }
        match &p.event.kind {
            EventKind::ObjectsBlocked(list) => {
                let mine: HashSet<&ObjectRef> = list.iter().collect();
                for o in mine {
                    if !objects.insert((p.tenant.cloud_id.as_str(), o)) {
                        return false;
                    }
                }
            }
            EventKind::Unknown => {}
            _ => return false,
        }
    }
    true
}

/// (site, event id, source): the order of the inbox's unique key.
fn key<'p>(p: &'p Pending<'_>) -> (&'p str, &'p str, &'p str) {
    (
        p.tenant.cloud_id.as_str(),
        p.event.id.as_str(),
        p.event.source.as_str(),
    )
}

/// The checks and rows both forms of the statement start with: whether the
/// senders are still as remembered (`still_current`) and the group's events
/// as rows (`u`), numbered `ord` in the order given.
fn events_as_rows() -> String {
    let still_current = unchanged_sql(14);
    format!(
        "{still_current}, u AS (
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                                 $6::text[], $7::uuid[], $8::text[], $9::text[])
                 WITH ORDINALITY AS u(cloud_id, source, event_id, event_type, event_time, mode,
                                      tenant_id, status, raw, ord)
         )"
    )
}

const INBOX_COLUMNS: &str =
    "cloud_id, source, event_id, event_type, event_time, mode, tenant_id, status, raw";

/// The statement that tolerates what is already stored: `ON CONFLICT` skips
/// an inbox row seen before and merges a block into the object's row. Only
/// the events it inserted come back, and only their objects are blocked.
fn careful_statement() -> String {
    let source = r#"(SELECT ins.cloud_id, o.product, o.object_type, o.object_id,
                   LEAST(u.event_time, ins.received_at) AS blocked_at, ins.id AS inbox_id
            FROM objs o JOIN u ON u.ord = o.ev
            JOIN ins ON ins.cloud_id = u.cloud_id AND ins.source = u.source AND ins.event_id = u.event_id
            ORDER BY o.n) AS s"#;
    // No objects, no counters to raise (ignored events, or the caller
    // writes the blocks itself).
    let blocks = write_blocks(
        source,
        "SELECT cloud_id FROM ins WHERE cardinality($10::bigint[]) > 0",
        Existing::Merge,
    );
    format!(
        "WITH {events}, ins AS (
            INSERT INTO inbox_events ({INBOX_COLUMNS})
            SELECT {INBOX_COLUMNS}
            FROM u WHERE (SELECT ok FROM still_current) ORDER BY ord
            ON CONFLICT ON CONSTRAINT inbox_once_per_site DO NOTHING
            RETURNING id, received_at, cloud_id, source, event_id
         ), objs AS (
            SELECT * FROM UNNEST($10::bigint[], $11::text[], $12::text[], $13::text[])
                 WITH ORDINALITY AS o(ev, product, object_type, object_id, n)
         ), {blocks}
         SELECT c.ok AS still_current, i.id, i.received_at, i.cloud_id, i.source, i.event_id
         FROM still_current c LEFT JOIN ins i ON true",
        events = events_as_rows(),
    )
}

/// The statement for a group of new events and new objects: plain inserts,
/// which fail (unique violation) if anything is already there. It exists
/// for speed. `ON CONFLICT` probes each unique index once before inserting
/// and again while inserting, and those probes of multi-column text keys
/// were a fifth of PostgreSQL's work for a group of new events — the usual
/// case. And since every event is new, the inbox ids are drawn before the
/// rows are written (`ids`, in the order given): each object finds its
/// event's id, site and time by position in the arrays instead of through
/// joins on the inserted rows, and one row answers for the group. Replayed
/// with pgbench, that took a 15-event group 0.44 ms instead of 0.47.
///
/// The objects are unnested in a select list, not with `FROM UNNEST(…)`: a
/// function scan fills a tuple store with all its rows before the first goes
/// on, where `unnest` in a select list streams them. For a 10,000-object
/// event that input took 2.5 ms of the statement instead of 7.5
/// (`auto_explain`), and large events went 1.10x as fast (ingest benchmark).
fn optimistic_statement() -> String {
    let when_current = "WHERE (SELECT ok FROM still_current)";
    let source = format!(
        "(SELECT ($1::text[])[o.ev] AS cloud_id, o.product, o.object_type, o.object_id,
                 LEAST(($5::timestamptz[])[o.ev], now()) AS blocked_at,
                 (SELECT a FROM ids)[o.ev] AS inbox_id
          FROM (SELECT unnest($10::bigint[]) AS ev, unnest($11::text[]) AS product,
                       unnest($12::text[]) AS object_type, unnest($13::text[]) AS object_id) AS o
          {when_current}) AS s"
    );
    let blocks = write_blocks(
        &source,
        &format!(
            "SELECT unnest($1::text[]) AS cloud_id
             {when_current} AND cardinality($10::bigint[]) > 0"
        ),
        Existing::Fail,
    );
    format!(
        "WITH {events}, ids AS (
            SELECT array_agg(nextval('inbox_events_id_seq'::regclass)
                             ORDER BY ord) AS a
            FROM u {when_current}
         ), ins AS (
            INSERT INTO inbox_events (id, {INBOX_COLUMNS}) OVERRIDING SYSTEM VALUE
            SELECT (SELECT a FROM ids)[ord], {INBOX_COLUMNS}
            FROM u {when_current} ORDER BY ord
         ), {blocks}
         SELECT c.ok AS still_current, (SELECT a FROM ids) AS ids, now() AS received_at
         FROM still_current c",
        events = events_as_rows(),
    )
}

static CAREFUL: LazyLock<String> = LazyLock::new(careful_statement);
static OPTIMISTIC: LazyLock<String> = LazyLock::new(optimistic_statement);

/// After an optimistic statement met a row already stored, this many groups
/// are written carefully before optimism is tried again: a redelivery storm
/// (or a site re-sending blocks it sent before) would otherwise pay for two
/// statements per group. A hint shared by all writers; either form stores
/// the same thing.
const CAREFUL_AFTER_CONFLICT: u32 = 64;
static CAREFUL_GROUPS_LEFT: AtomicU32 = AtomicU32::new(0);

fn optimistic_now() -> bool {
    CAREFUL_GROUPS_LEFT
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_err()
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.code().as_deref() == Some("23505"))
}

/// The statement's parameters, in the order of its placeholders.
struct Columns<'e> {
    cloud_ids: Vec<&'e str>,
    sources: Vec<&'e str>,
    event_ids: Vec<&'e str>,
    event_types: Vec<&'e str>,
    times: Vec<Option<DateTime<Utc>>>,
    modes: Vec<&'static str>,
    tenant_ids: Vec<uuid::Uuid>,
    statuses: Vec<&'static str>,
    raws: Vec<&'e str>,
    object_events: Vec<i64>,
    products: Vec<&'e str>,
    types: Vec<&'e str>,
    ids: Vec<&'e str>,
}

async fn run(
    conn: &mut PgConnection,
    sql: &str,
    c: &Columns<'_>,
    unchanged: &Unchanged<'_>,
) -> Result<Vec<PgRow>, sqlx::Error> {
    sqlx::query(sql)
        .bind(&c.cloud_ids)
        .bind(&c.sources)
        .bind(&c.event_ids)
        .bind(&c.event_types)
        .bind(&c.times)
        .bind(&c.modes)
        .bind(&c.tenant_ids)
        .bind(&c.statuses)
        .bind(&c.raws)
        .bind(&c.object_events)
        .bind(&c.products)
        .bind(&c.types)
        .bind(&c.ids)
        .bind(unchanged.count())
        .bind(&unchanged.kinds)
        .bind(&unchanged.keys)
        .bind(&unchanged.installed)
        .bind(&unchanged.site_urls)
        .bind(&unchanged.shared_secrets)
        .fetch_all(conn)
        .await
}

/// What `write` answers: for each event, its new row's id and receipt
/// time, or `None` for a duplicate.
type Stored = Vec<Option<(i64, DateTime<Utc>)>>;

/// Where a group's statement runs. `Alone` (a transaction of its own) lets
/// it try the optimistic form first; inside a transaction that form's
/// failure would abort the whole transaction, so only the careful one runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Alone,
    InTransaction,
}

/// Inserts the inbox rows of the events not seen before and — when
/// `with_blocks` (only for what `fits` accepts) — the object blocks of those
/// new events, in one statement. It writes nothing and answers `None` when a
/// tenant is no longer as `unchanged` expects.
pub async fn write(
    conn: &mut PgConnection,
    events: &[Pending<'_>],
    with_blocks: bool,
    written: Written,
    unchanged: &Unchanged<'_>,
) -> Result<Option<Stored>, Error> {
    // Sorted by key (position breaking ties): concurrent statements wait on
    // each other's keys in one order, and the first of two copies wins.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| key(&events[a]).cmp(&key(&events[b])).then(a.cmp(&b)));
    let sorted = || order.iter().map(|&i| &events[i]);
    let mut columns = Columns {
        cloud_ids: sorted().map(|p| p.tenant.cloud_id.as_str()).collect(),
        sources: sorted().map(|p| p.event.source.as_str()).collect(),
        event_ids: sorted().map(|p| p.event.id.as_str()).collect(),
        event_types: sorted().map(|p| p.event.event_type.as_str()).collect(),
        times: sorted().map(|p| p.event.time).collect(),
        modes: sorted().map(|p| p.mode.as_str()).collect(),
        tenant_ids: sorted().map(|p| p.tenant.id).collect(),
        statuses: sorted()
            .map(|p| {
                if p.event.is_ignored() {
                    "ignored"
                } else {
                    "applied"
                }
            })
            .collect(),
        raws: sorted().map(|p| p.event.raw.as_str()).collect(),
        object_events: vec![],
        products: vec![],
        types: vec![],
        ids: vec![],
    };
    // The objects of the first copy of each event, by its place in `order`
    // (1-based), in the primary key's order (`key_order`): the statement
    // inserts them in the order given, cheaper sorted here than by PostgreSQL.
    let mut copies = HashSet::new();
    let mut blocks: Vec<(&str, &ObjectRef, i64)> = Vec::new();
    for (place, p) in sorted().enumerate() {
        if !with_blocks || !copies.insert(key(p)) {
            continue;
        }
        if let EventKind::ObjectsBlocked(list) = &p.event.kind {
            let site = p.tenant.cloud_id.as_str();
            blocks.extend(list.iter().map(|o| (site, o, place as i64 + 1)));
        }
    }
    blocks.sort_unstable_by_key(|&(site, o, _)| key_order(site, o));
    // An event may name an object twice: once is enough (`fits` refused
    // groups where two events name one object).
    blocks.dedup_by_key(|&mut (site, o, _)| (site, o));
    for (_, o, place) in blocks {
        columns.object_events.push(place);
        columns.products.push(o.product.as_str());
        columns.types.push(o.object_type.as_str());
        columns.ids.push(o.id.as_str());
    }
    // Two copies of one event in a group always conflict: no optimism then.
    let optimistic = written == Written::Alone
        && with_blocks
        && copies.len() == events.len()
        && optimistic_now();
    if optimistic {
        match run(conn, &OPTIMISTIC, &columns, unchanged).await {
            Ok(rows) => return all_new(&rows, &order),
            Err(e) if is_unique_violation(&e) => {
                CAREFUL_GROUPS_LEFT.store(CAREFUL_AFTER_CONFLICT, Ordering::Relaxed);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let rows = run(conn, &CAREFUL, &columns, unchanged).await?;
    new_ones(&rows, events, &order)
}

/// The answer's first row if the statement wrote anything: `still_current`
/// is on every row, and there is always one row.
fn written(rows: &[PgRow]) -> Result<Option<&PgRow>, Error> {
    match rows.first() {
        Some(row) if row.try_get::<bool, _>("still_current")? => Ok(Some(row)),
        _ => Ok(None),
    }
}

/// What the optimistic statement answers: one row with the ids drawn for
/// the events, in `order`, and their receipt time.
fn all_new(rows: &[PgRow], order: &[usize]) -> Result<Option<Stored>, Error> {
    let Some(row) = written(rows)? else {
        return Ok(None);
    };
    let ids: Vec<i64> = row.try_get("ids")?;
    let received_at: DateTime<Utc> = row.try_get("received_at")?;
    if ids.len() != order.len() {
        return Err(Error::Internal(format!(
            "a group of {} events was given {} inbox ids",
            order.len(),
            ids.len()
        )));
    }
    let mut stored = vec![None; order.len()];
    for (&i, id) in order.iter().zip(ids) {
        stored[i] = Some((id, received_at));
    }
    Ok(Some(stored))
}

/// What the careful statement answers: a row for each event it inserted
/// (none for those seen before), matched to the events by key.
fn new_ones(
    rows: &[PgRow],
    events: &[Pending<'_>],
    order: &[usize],
) -> Result<Option<Stored>, Error> {
    if written(rows)?.is_none() {
        return Ok(None);
    }
    // Keys borrowed from the rows: this runs while the next group waits to
    // be written, and owned keys cost six allocations per event.
    let mut new_rows: HashMap<(&str, &str, &str), (i64, DateTime<Utc>)> =
        HashMap::with_capacity(rows.len());
    for row in rows {
        // The one row of a statement that inserted nothing names no event.
        let Some(id) = row.try_get::<Option<i64>, _>("id")? else {
            continue;
        };
        new_rows.insert(
            (
                row.try_get("cloud_id")?,
                row.try_get("event_id")?,
                row.try_get("source")?,
            ),
            (id, row.try_get("received_at")?),
        );
    }
    // The first copy (in the order given) of a new key takes its row.
    let mut stored = vec![None; events.len()];
    for &i in order {
        stored[i] = new_rows.remove(&key(&events[i]));
    }
    Ok(Some(stored))
}
