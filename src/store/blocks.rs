//! The block tables an applied event feeds: `blocked_objects` (one row per
//! object, its block cycle and history) and `blocked_containers`.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::{ContainerRef, ObjectRef};
use crate::Error;

/// One object named by one applied event.
pub struct ObjectBlock<'a> {
    pub cloud_id: &'a str,
    pub object: &'a ObjectRef,
    /// The earlier of the event's own time and its receipt.
    pub blocked_at: DateTime<Utc>,
    pub inbox_id: i64,
}

/// What a block does to an object already recorded: the same for one event
/// and for a group. `EXCLUDED` is the new block (its time and inbox id).
pub(crate) const ON_EXISTING_OBJECT: &str = "
ON CONFLICT (cloud_id, product, object_type, object_id) DO UPDATE SET
   -- A restored or purged object blocked again starts a new cycle;
   -- an event older than its verified unblock changes nothing but history.
   state = CASE WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                THEN 'blocked' ELSE b.state END,
   kept = CASE WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
               THEN false ELSE b.kept END,
   decision_id = CASE WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                      THEN NULL ELSE b.decision_id END,
   state_changed_at = CASE WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                           THEN now() ELSE b.state_changed_at END,
   transitions = CASE WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
                      THEN b.transitions || jsonb_build_object('from', b.state, 'to', 'blocked',
                           'at', now(), 'cause', 'event', 'inbox_id', EXCLUDED.first_inbox_id)
                      ELSE b.transitions END,
   first_inbox_id = CASE
       WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
         OR (EXCLUDED.first_blocked_at < b.first_blocked_at
             AND NOT aarc_stale_block(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at))
       THEN EXCLUDED.first_inbox_id ELSE b.first_inbox_id END,
   first_blocked_at = CASE
       WHEN aarc_new_block_cycle(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
       THEN EXCLUDED.first_blocked_at
       WHEN aarc_stale_block(b.state, b.verified_unblocked_at, EXCLUDED.first_blocked_at)
       THEN b.first_blocked_at
       ELSE LEAST(b.first_blocked_at, EXCLUDED.first_blocked_at) END,
   last_inbox_id = CASE WHEN EXCLUDED.last_blocked_at >= b.last_blocked_at
                        THEN EXCLUDED.last_inbox_id ELSE b.last_inbox_id END,
   last_blocked_at = GREATEST(b.last_blocked_at, EXCLUDED.last_blocked_at),
   inbox_ids = CASE WHEN cardinality(b.inbox_ids) < 1000
                    THEN b.inbox_ids || EXCLUDED.inbox_ids ELSE b.inbox_ids END,
   updated_at = now()";

/// Inserts rows given as (cloud_id, product, object_type, object_id,
/// blocked_at, inbox_id) by `source`, a relation aliased `s`.
fn upsert_from(source: &str) -> String {
    format!("{}\n{ON_EXISTING_OBJECT}", insert_from(source))
}

/// `upsert_from` for rows known to be new: a plain INSERT, which fails
/// (unique violation) if one of them is not.
fn insert_from(source: &str) -> String {
    format!(
        "INSERT INTO blocked_objects AS b (cloud_id, product, object_type, object_id,
                                           first_blocked_at, last_blocked_at,
                                           first_inbox_id, last_inbox_id, inbox_ids)
         SELECT s.cloud_id, s.product, s.object_type, s.object_id, s.blocked_at, s.blocked_at,
                s.inbox_id, s.inbox_id, ARRAY[s.inbox_id]
         FROM {source}"
    )
}

/// Where an object's row sits in the primary key, (cloud_id, object_id,
/// product, object_type). Block rows are written in this order: concurrent
/// statements take their locks in one order, and consecutive inserts land on
/// neighbouring index leaves.
pub(crate) fn key_order<'a>(
    site: &'a str,
    o: &'a ObjectRef,
) -> (&'a str, &'a str, &'a str, &'a str) {
    (
        site,
        o.id.as_str(),
        o.product.as_str(),
        o.object_type.as_str(),
    )
}

/// Whether rows already stored are merged (`ON CONFLICT`) or make the
/// statement fail (a plain, cheaper `INSERT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    Merge,
    Fail,
}

/// The only way block rows are written: two common table expressions,
/// `blocked` (the rows of `source`, see `insert_from`) and `bumped` (the
/// change counters of `sites`, a query of one `cloud_id` column naming at
/// least the sites of those rows). Status answers held in memory and the
/// reconciler's scans rely on every new block raising its site's counter;
/// updates and deletes do so by trigger.
pub(crate) fn write_blocks(source: &str, sites: &str, existing: Existing) -> String {
    let blocks = match existing {
        Existing::Merge => upsert_from(source),
        Existing::Fail => insert_from(source),
    };
    format!(
        "blocked AS ({blocks}\n RETURNING 1), bumped AS ({})",
        crate::store::status_versions::bump_sql(sites)
    )
}

static UPSERT_ROUND: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH {} SELECT 1",
        write_blocks(
            "UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[])
             AS s(cloud_id, product, object_type, object_id, blocked_at, inbox_id)",
            "SELECT unnest($1::text[]) AS cloud_id",
            Existing::Merge,
        )
    )
});

/// Applies the object blocks of many events, in the order given, with one
/// statement per "round". PostgreSQL refuses to update a row twice in one
/// statement, so the first mention of each object goes in round one, a second
/// mention (by a later event) in round two, and so on: the result is the same
/// as applying the events one by one. Usually there is a single round.
///
/// Within a round the rows are sorted by key, so that two transactions
/// writing overlapping objects lock them in the same order (no deadlock).
pub async fn block_objects(
    conn: &mut PgConnection,
    blocks_by_event: &[Vec<ObjectBlock<'_>>],
) -> Result<(), Error> {
    let mut rounds: Vec<Vec<&ObjectBlock<'_>>> = Vec::new();
    let mut mentions: HashMap<(&str, &ObjectRef), usize> = HashMap::new();
    for event_blocks in blocks_by_event {
        // An event may name an object twice: once is enough.
        let mut seen = BTreeSet::new();
        for block in event_blocks {
            if !seen.insert(block.object) {
                continue;
            }
            let round = mentions.entry((block.cloud_id, block.object)).or_insert(0);
            if rounds.len() <= *round {
                rounds.push(Vec::new());
            }
            rounds[*round].push(block);
            *round += 1;
        }
    }
    for mut round in rounds {
        round.sort_unstable_by_key(|b| key_order(b.cloud_id, b.object));
        upsert_round(conn, &round).await?;
    }
    Ok(())
}

async fn upsert_round(conn: &mut PgConnection, round: &[&ObjectBlock<'_>]) -> Result<(), Error> {
    let mut sites = Vec::with_capacity(round.len());
    let mut products = Vec::with_capacity(round.len());
    let mut types = Vec::with_capacity(round.len());
    let mut ids = Vec::with_capacity(round.len());
    let mut times = Vec::with_capacity(round.len());
    let mut inbox_ids = Vec::with_capacity(round.len());
    for b in round {
        sites.push(b.cloud_id);
        products.push(b.object.product.as_str());
        types.push(b.object.object_type.as_str());
        ids.push(b.object.id.as_str());
        times.push(b.blocked_at);
        inbox_ids.push(b.inbox_id);
    }
    sqlx::query(UPSERT_ROUND.as_str())
        .bind(&sites)
        .bind(&products)
        .bind(&types)
        .bind(&ids)
        .bind(&times)
        .bind(&inbox_ids)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn block_container(
    conn: &mut PgConnection,
    cloud_id: &str,
    container: &ContainerRef,
    blocked_at: DateTime<Utc>,
    inbox_id: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO blocked_containers AS c (cloud_id, product, container_id, first_blocked_at,
                                              last_blocked_at, first_inbox_id, last_inbox_id,
                                              inbox_ids)
         VALUES ($1, $2, $3, $4, $4, $5, $5, ARRAY[$5::bigint])
         ON CONFLICT (cloud_id, product, container_id) DO UPDATE SET
            first_inbox_id = CASE WHEN EXCLUDED.first_blocked_at < c.first_blocked_at
                                  THEN EXCLUDED.first_inbox_id ELSE c.first_inbox_id END,
            first_blocked_at = LEAST(c.first_blocked_at, EXCLUDED.first_blocked_at),
            last_inbox_id = CASE WHEN EXCLUDED.last_blocked_at >= c.last_blocked_at
                                 THEN EXCLUDED.last_inbox_id ELSE c.last_inbox_id END,
            last_blocked_at = GREATEST(c.last_blocked_at, EXCLUDED.last_blocked_at),
            inbox_ids = CASE WHEN cardinality(c.inbox_ids) < 1000
                             THEN c.inbox_ids || EXCLUDED.inbox_ids ELSE c.inbox_ids END",
    )
    .bind(cloud_id)
    .bind(container.product.as_str())
    .bind(&container.id)
    .bind(blocked_at)
    .bind(inbox_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Block rows have no insert trigger raising their site's change
    /// counter: `write_blocks` does it. So no other code may insert them.
    #[test]
    fn block_rows_are_inserted_by_write_blocks_only() {
        // Spelled in two parts so that this test does not find itself.
        let needle = ["INTO", "blocked_objects"].join(" ");
        fn visit(dir: &std::path::Path, needle: &str, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    visit(&path, needle, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let inserts = text.matches(needle).count();
                    for _ in 0..inserts {
                        found.push(path.display().to_string());
                    }
                }
            }
        }
        let mut found = Vec::new();
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &needle,
            &mut found,
        );
        assert_eq!(found.len(), 1, "inserts of block rows: {found:?}");
        assert!(found.iter().all(|f| f.ends_with("src/store/blocks.rs")));
    }
}
