//! The two measured phases, each a number of rounds: one-object events
//! against pgbench, and large events against bare inserts. Every round
//! prints its figures as it ends.

use std::time::Duration;

use crate::aarc_process::AarcProcess;
use crate::common::cpu::CpuUse;
use crate::common::db_writes::DbWrites;
use crate::common::Figures;
use crate::load::{bare_inserts, drive};
use crate::pgbench::pgbench;
use crate::{Comparison, CLIENTS, LARGE_IDS};

/// Which measured phases run: both by default; `BENCH_PHASES=single` or
/// `BENCH_PHASES=large` runs one of them, to study it quicker.
pub struct Phases {
    pub single: bool,
    pub large: bool,
}

impl Phases {
    pub fn from_env() -> Self {
        let chosen = std::env::var("BENCH_PHASES").unwrap_or_default();
        let named = |phase: &str| chosen.split(',').any(|p| p.trim() == phase);
        if chosen.trim().is_empty() {
            return Self {
                single: true,
                large: true,
            };
        }
        let phases = Self {
            single: named("single"),
            large: named("large"),
        };
        assert!(
            phases.single || phases.large,
            "BENCH_PHASES={chosen:?} names no phase: use single, large or both (single,large)"
        );
        phases
    }
}

/// What the rounds of a phase have in common.
pub struct Setting<'a> {
    pub db: &'a sqlx::PgPool,
    pub db_url: &'a str,
    pub aarc: &'a AarcProcess,
    pub second: Option<&'a Comparison>,
    pub rounds: usize,
    pub secs: Duration,
}

/// The one-object phase's figures over all its rounds.
pub struct SinglePhase {
    /// pgbench's mean transactions per second.
    pub baseline: f64,
    pub aarc: Figures,
    /// The second aarc's, if one runs.
    pub second: Vec<Figures>,
}

/// The large-event phase's figures over all its rounds.
pub struct LargePhase {
    pub bare: Figures,
    pub aarc: Figures,
    pub second: Vec<Figures>,
}

/// pgbench against aarc (and the second aarc), with one-object events.
pub async fn single_phase(s: &Setting<'_>) -> SinglePhase {
    let (mut baselines, mut singles, mut seconds) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=s.rounds {
        // Whichever runs later in a round measured faster (a second copy of
        // the same aarc ran 1.04-1.08x the first, which followed pgbench), so
        // the order reverses every round: odd rounds run pgbench, aarc, then
        // the second aarc; even rounds the second aarc, aarc, then pgbench.
        // No side always takes the same place.
        let aarc_first = round % 2 == 0;
        let mut second_figures = None;
        let mut single = None;
        if aarc_first {
            if let Some(second) = s.second {
                second_figures = Some(second_round(s, second, round).await);
            }
            single = Some(single_round(s, round).await);
        }
        println!(
            "round {round}: pgbench, {CLIENTS} clients, one single-row INSERT per transaction"
        );
        settle(s.db).await;
        baselines.push(pgbench(s.db_url, CLIENTS, s.secs));
        let (single, cpu) = match single {
            Some(done) => done,
            None => single_round(s, round).await,
        };
        println!(
            "  aarc (round {round}, {}): {:.0} events/s = {:.2}x, p50 {:.2} ms, p99 {:.2} ms, errors {}\n  {cpu}",
            if aarc_first { "before pgbench" } else { "after pgbench" },
            single.per_second(),
            single.per_second() / baselines[round - 1],
            single.percentile_ms(0.5),
            single.percentile_ms(0.99),
            single.errors
        );
        if let Some(second) = s.second {
            let (figures, cpu) = match second_figures {
                Some(done) => done,
                None => second_round(s, second, round).await,
            };
            println!(
                "  second aarc ({}): {:.0} events/s = {:.2}x the first, p50 {:.2} ms, p99 {:.2} ms, errors {}\n  {cpu}",
                if aarc_first { "before the first" } else { "after the first" },
                figures.per_second(),
                figures.per_second() / single.per_second(),
                figures.percentile_ms(0.5),
                figures.percentile_ms(0.99),
                figures.errors
            );
            seconds.push(figures);
        }
        singles.push(single);
    }
    SinglePhase {
        baseline: baselines.iter().sum::<f64>() / baselines.len() as f64,
        aarc: Figures::combined(&singles),
        second: seconds,
    }
}

/// Bare inserts against aarc (and the second aarc), with large events from
/// `clients` connections.
pub async fn large_phase(s: &Setting<'_>, clients: usize) -> LargePhase {
    let (mut bares, mut larges, mut seconds) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=s.rounds {
        println!(
            "round {round}: {clients} connections, each a bare INSERT of {LARGE_IDS} rows into a copy of blocked_objects"
        );
        settle(s.db).await;
        let bare = bare_inserts(s.db_url, round, clients, s.secs);
        let (bare, costs) = with_costs(s.db, s.aarc, "row", bare).await;
        println!(
            "  postgres: {:.0} rows/s\n  {costs}",
            bare.per_second() * LARGE_IDS as f64
        );
        bares.push(bare);
        // With a second aarc, the two take turns going first, as above.
        let first = || large_round(s, s.aarc, "aarc", round, clients);
        let second = || async {
            match s.second {
                Some(o) => {
                    Some(large_round(s, &o.process, "second aarc", round + 1000, clients).await)
                }
                None => None,
            }
        };
        let (large, second) = if round % 2 == 0 {
            let second = second().await;
            (first().await, second)
        } else {
            let large = first().await;
            (large, second().await)
        };
        if let Some(second) = second {
            println!(
                "  second aarc: {:.2}x the first",
                second.per_second() / large.per_second()
            );
            seconds.push(second);
        }
        larges.push(large);
    }
    LargePhase {
        bare: Figures::combined(&bares),
        aarc: Figures::combined(&larges),
        second: seconds,
    }
}

/// Brings the server to the same state before every measured phase: the
/// rows the previous phase wrote are vacuumed and its dirty pages written
/// out, so neither side pays for the other's autovacuum or checkpoint. (Left
/// to themselves they ran during the next phase: a second copy of the same
/// aarc measured 1.08x the first, which ran right after pgbench.)
async fn settle(db: &sqlx::PgPool) {
    for statement in [
        "VACUUM (ANALYZE) bench_inbox, inbox_events, blocked_objects, bench_objects, status_versions",
        "CHECKPOINT",
    ] {
        if let Err(e) = sqlx::query(statement).execute(db).await {
            // CHECKPOINT needs a superuser or pg_checkpoint: run without it.
            println!("  (settling: {statement} failed: {e})");
        }
    }
}

/// Runs a large-event `phase` (requests of `LARGE_IDS` objects or rows
/// each) and says what it cost: CPU per request of aarc, PostgreSQL and the
/// load generator, and what PostgreSQL wrote per `item`.
async fn with_costs(
    db: &sqlx::PgPool,
    aarc: &AarcProcess,
    item: &str,
    phase: impl std::future::Future<Output = Figures>,
) -> (Figures, String) {
    let (cpu_before, writes_before) = (CpuUse::now(aarc.pid()), DbWrites::now(db).await);
    let figures = phase.await;
    let requests = figures.requests as u64;
    let cpu = CpuUse::now(aarc.pid()).per_request(&cpu_before, requests);
    let writes =
        DbWrites::now(db)
            .await
            .per_item(&writes_before, requests * LARGE_IDS as u64, item);
    (figures, format!("{cpu}\n  {writes}"))
}

/// One round of large events against `aarc`, printed as it ends.
async fn large_round(
    s: &Setting<'_>,
    aarc: &AarcProcess,
    name: &str,
    run: usize,
    clients: usize,
) -> Figures {
    println!("{name}: {clients} connections posting events of {LARGE_IDS} object ids each");
    settle(s.db).await;
    let large = drive(&aarc.base, run, clients, s.secs, LARGE_IDS);
    let (large, costs) = with_costs(s.db, aarc, "object", large).await;
    println!(
        "  {name}: {:.1} events/s = {:.0} objects/s, p50 {:.1} ms, p99 {:.1} ms, errors {}\n  {costs}",
        large.per_second(),
        large.per_second() * LARGE_IDS as f64,
        large.percentile_ms(0.5),
        large.percentile_ms(0.99),
        large.errors
    );
    large
}

/// One round of one-object events against the first aarc: its figures and
/// CPU use.
async fn single_round(s: &Setting<'_>, round: usize) -> (Figures, String) {
    println!(
        "round {round}: aarc, {CLIENTS} connections posting signed v2 events of one object each"
    );
    one_object_events(s, s.aarc, round).await
}

/// One round of one-object events against the second aarc.
async fn second_round(s: &Setting<'_>, second: &Comparison, round: usize) -> (Figures, String) {
    println!("round {round}: the second aarc ({}), as above", second.name);
    one_object_events(s, &second.process, round + 1000).await
}

async fn one_object_events(s: &Setting<'_>, aarc: &AarcProcess, run: usize) -> (Figures, String) {
    settle(s.db).await;
    let cpu_before = CpuUse::now(aarc.pid());
    let figures = drive(&aarc.base, run, CLIENTS, s.secs, 1).await;
    let cpu = CpuUse::now(aarc.pid()).per_request(&cpu_before, figures.requests as u64);
    (figures, cpu)
}
