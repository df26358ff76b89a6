//! The inbox insert of a group of events, as one statement. For the common
//! group — object blocks, each object named by one event — the blocks those
//! events cause go in the same statement, so the group costs one round trip
//! and one commit.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use super::blocks::upsert_from;
use super::inbox::Pending;
use crate::domain::{EventKind, ObjectRef};
use crate::Error;

/// Whether `record` can write these events: only object blocks and ignored
/// events, and no object named by two different events (PostgreSQL would
/// refuse to update its row twice in one statement).
pub fn fits(events: &[Pending<'_>]) -> bool {
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

fn key<'p>(p: &'p Pending<'_>) -> (&'p str, &'p str, &'p str) {
    (
        p.tenant.cloud_id.as_str(),
        p.event.source.as_str(),
        p.event.id.as_str(),
    )
}

static STATEMENT: LazyLock<String> = LazyLock::new(|| {
    let blocks = upsert_from(
        r#"(SELECT ins.cloud_id, o.product, o.object_type, o.object_id,
                   LEAST(u.event_time, ins.received_at) AS blocked_at, ins.id AS inbox_id
            FROM objs o JOIN u ON u.ord = o.ev
            JOIN ins ON ins.cloud_id = u.cloud_id AND ins.source = u.source AND ins.event_id = u.event_id
            ORDER BY ins.cloud_id COLLATE "C", o.product COLLATE "C", o.object_type COLLATE "C",
                     o.object_id COLLATE "C") AS s"#,
    );
    format!(
        "WITH u AS (
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                                 $6::text[], $7::uuid[], $8::text[], $9::text[])
                 WITH ORDINALITY AS u(cloud_id, source, event_id, event_type, event_time, mode,
                                      tenant_id, status, raw, ord)
         ), ins AS (
            INSERT INTO inbox_events (cloud_id, source, event_id, event_type, event_time, mode,
                                      tenant_id, status, raw)
            SELECT cloud_id, source, event_id, event_type, event_time, mode, tenant_id, status,
                   raw::jsonb
            FROM u ORDER BY ord
            ON CONFLICT ON CONSTRAINT inbox_once_per_site DO NOTHING
            RETURNING id, received_at, cloud_id, source, event_id
         ), objs AS (
            SELECT * FROM UNNEST($10::bigint[], $11::text[], $12::text[], $13::text[])
                 AS o(ev, product, object_type, object_id)
         ), blocked AS (
            {blocks}
            RETURNING 1
         )
         SELECT id, received_at, cloud_id, source, event_id FROM ins"
    )
});

/// Inserts the inbox rows of the events not seen before and — when
/// `with_blocks` (only for what `fits` accepts) — the object blocks of those
/// new events, in one statement. For each event, its new row's id and
/// receipt time, or `None` for a duplicate.
pub async fn write(
    conn: &mut PgConnection,
    events: &[Pending<'_>],
    with_blocks: bool,
) -> Result<Vec<Option<(i64, DateTime<Utc>)>>, Error> {
    // Sorted by key (position breaking ties): concurrent statements wait on
    // each other's keys in one order, and the first of two copies wins.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| key(&events[a]).cmp(&key(&events[b])).then(a.cmp(&b)));
    let text = |f: &dyn Fn(&Pending<'_>) -> String| -> Vec<String> {
        order.iter().map(|&i| f(&events[i])).collect()
    };
    // The objects of the first copy of each event, by its place in `order` (1-based).
    let (mut ev, mut products, mut types, mut ids) = (vec![], vec![], vec![], vec![]);
    let mut copies = HashSet::new();
    for (place, &i) in order.iter().enumerate() {
        let p = &events[i];
        if !with_blocks || !copies.insert(key(p)) {
            continue;
        }
        if let EventKind::ObjectsBlocked(list) = &p.event.kind {
            let unique: BTreeSet<&ObjectRef> = list.iter().collect();
            for o in unique {
                ev.push(place as i64 + 1);
                products.push(o.product.as_str());
                types.push(o.object_type.as_str());
                ids.push(o.id.as_str());
            }
        }
    }
    let rows = sqlx::query(STATEMENT.as_str())
        .bind(text(&|p| p.tenant.cloud_id.as_str().to_string()))
        .bind(text(&|p| p.event.source.clone()))
        .bind(text(&|p| p.event.id.clone()))
        .bind(text(&|p| p.event.event_type.clone()))
        .bind(
            order
                .iter()
                .map(|&i| events[i].event.time)
                .collect::<Vec<_>>(),
        )
        .bind(text(&|p| p.mode.as_str().to_string()))
        .bind(
            order
                .iter()
                .map(|&i| events[i].tenant.id)
                .collect::<Vec<_>>(),
        )
        .bind(text(&|p| {
            if p.event.is_ignored() {
                "ignored"
            } else {
                "applied"
            }
            .to_string()
        }))
        .bind(text(&|p| p.event.raw.to_string()))
        .bind(&ev)
        .bind(&products)
        .bind(&types)
        .bind(&ids)
        .fetch_all(conn)
        .await?;
    let mut new_rows: HashMap<(String, String, String), (i64, DateTime<Utc>)> =
        HashMap::with_capacity(rows.len());
    for row in rows {
        new_rows.insert(
            (
                row.try_get("cloud_id")?,
                row.try_get("source")?,
                row.try_get("event_id")?,
            ),
            (row.try_get("id")?, row.try_get("received_at")?),
        );
    }
    // The first copy (in the order given) of a new key takes its row.
    let mut stored = vec![None; events.len()];
    for &i in &order {
        let (site, source, id) = key(&events[i]);
        stored[i] = new_rows.remove(&(site.to_string(), source.to_string(), id.to_string()));
    }
    Ok(stored)
}
