//! Prometheus metrics (`GET /metrics`, OpenMetrics text).
//!
//! Counters and histograms are process-wide statics: the places that count
//! (ingest, the reconciler's verification and delivery steps) sit far from
//! the HTTP state, and threading a handle through all of them would buy
//! nothing — there is one set of metrics per process either way. Figures that
//! live in the database (objects by state, outbox backlog) are read when
//! scraped, at most once per `DB_FIGURES_TTL`, so several scrapers or replicas
//! do not turn into a stream of full counts.

use std::sync::atomic::AtomicU64;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sqlx::PgPool;

use crate::domain::{ObjectState, PolicyEvent, ReceiveMode};
use crate::Error;

/// How long figures read from the database are reused.
const DB_FIGURES_TTL: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub mode: &'static str,
    /// The CloudEvents type; `other` for types aarc ignores, so a sender
    /// cannot grow the label set without bound.
    pub r#type: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AnsweredFromLabel {
    pub answered_from: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

pub struct Metrics {
    registry: Registry,
    pub events_received: Family<EventLabels, Counter>,
    pub webhook_requests: Family<StatusLabel, Counter>,
    pub ingest_seconds: Histogram,
    pub ingest_batch_events: Histogram,
    pub objects_by_state: Family<StateLabel, Gauge>,
    pub reconcile_pass_seconds: Histogram,
    pub reconcile_objects: Family<ActionLabel, Counter>,
    pub reconcile_decisions: Counter,
    pub outbox_backlog: Gauge,
    pub outbox_dead: Gauge,
    pub outbox_attempts: Family<OutcomeLabel, Counter>,
    pub verification_calls: Family<OutcomeLabel, Counter>,
    pub pool_connections: Family<StateLabel, Gauge>,
    pub pool_max: Gauge,
    pub db_figures_age_seconds: FloatGauge,
    pub status_checks: Family<AnsweredFromLabel, Counter>,
    pub status_cache_objects: Gauge,
    /// One render at a time: the database gauges are set, then encoded.
    render_lock: tokio::sync::Mutex<()>,
}

/// When one server last read the database figures. Kept per server (in its
/// state) rather than per process so that each server reads its own database.
#[derive(Default)]
pub struct DbFiguresCache(tokio::sync::Mutex<Option<Instant>>);

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("aarc");
        let events_received = Family::<EventLabels, Counter>::default();
        registry.register(
            "events_received",
            "Events received, by receive mode, CloudEvents type and outcome (applied, ignored, duplicate)",
            events_received.clone(),
        );
        let webhook_requests = Family::<StatusLabel, Counter>::default();
        registry.register(
            "webhook_requests",
            "Requests to POST /webhooks/atlassian by HTTP status",
            webhook_requests.clone(),
        );
        // 0.5 ms .. ~4 s
        let ingest_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "ingest_duration_seconds",
            "Time from a webhook request's arrival to its answer, commit included",
            ingest_seconds.clone(),
        );
        let ingest_batch_events = Histogram::new(exponential_buckets(1.0, 2.0, 15));
        registry.register(
            "ingest_batch_events",
            "Events written per ingest transaction (group commit: the events of concurrent requests share one)",
            ingest_batch_events.clone(),
        );
        let objects_by_state = Family::<StateLabel, Gauge>::default();
        registry.register(
            "blocked_objects",
            "Objects recorded as blocked, by state (read from the database when scraped)",
            objects_by_state.clone(),
        );
        // 1 ms .. ~65 s
        let reconcile_pass_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register(
            "reconcile_pass_duration_seconds",
            "Duration of reconciler passes run by this process",
            reconcile_pass_seconds.clone(),
        );
        let reconcile_objects = Family::<ActionLabel, Counter>::default();
        registry.register(
            "reconcile_objects",
            "Objects the reconciler hid, restored or put under a purge decision",
            reconcile_objects.clone(),
        );
        let reconcile_decisions = Counter::default();
        registry.register(
            "reconcile_decisions",
            "Purge decisions the reconciler made",
            reconcile_decisions.clone(),
        );
        let outbox_backlog = Gauge::default();
        registry.register(
            "outbox_backlog",
            "Notifications waiting for delivery (read from the database when scraped)",
            outbox_backlog.clone(),
        );
        let outbox_dead = Gauge::default();
        registry.register(
            "outbox_dead",
            "Notifications given up after too many attempts (read from the database when scraped)",
            outbox_dead.clone(),
        );
        let outbox_attempts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "outbox_delivery_attempts",
            "Notification delivery attempts by outcome (delivered, failed, dead)",
            outbox_attempts.clone(),
        );
        let verification_calls = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "verification_calls",
            "Calls asking Atlassian whether content is blocked, by outcome (blocked, not_blocked, unavailable, failed)",
            verification_calls.clone(),
        );
        let pool_connections = Family::<StateLabel, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database connections of this process, by state (idle, in_use)",
            pool_connections.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "Largest number of database connections this process opens",
            pool_max.clone(),
        );
        let db_figures_age_seconds = FloatGauge::default();
        registry.register(
            "db_figures_age_seconds",
            "Age of the figures read from the database at scrape time",
            db_figures_age_seconds.clone(),
        );
        let status_checks = Family::<AnsweredFromLabel, Counter>::default();
        registry.register(
            "status_checks",
            "Status requests (single objects and batch checks), by where they were answered from (memory, database)",
            status_checks.clone(),
        );
        let status_cache_objects = Gauge::default();
        registry.register(
            "status_cache_objects",
            "Blocked objects this process holds in memory for status answers",
            status_cache_objects.clone(),
        );
        Self {
            registry,
            events_received,
            webhook_requests,
            ingest_seconds,
            ingest_batch_events,
            objects_by_state,
            reconcile_pass_seconds,
            reconcile_objects,
            reconcile_decisions,
            outbox_backlog,
            outbox_dead,
            outbox_attempts,
            verification_calls,
            pool_connections,
            pool_max,
            db_figures_age_seconds,
            status_checks,
            status_cache_objects,
            render_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts received events, tallied by their labels first: a group's
    /// events nearly all share one set, and each lookup in the family clones
    /// a label and takes a lock while the next group waits to be written.
    pub fn events<'e>(
        &self,
        received: impl IntoIterator<Item = (ReceiveMode, &'e PolicyEvent, &'static str)>,
    ) {
        let mut tally: Vec<((&'static str, &'e str, &'static str), u64)> = Vec::new();
        for (mode, event, outcome) in received {
            let r#type = if event.is_ignored() {
                "other"
            } else {
                event.event_type.as_str()
            };
            let labels = (mode.as_str(), r#type, outcome);
            match tally.iter_mut().find(|(seen, _)| *seen == labels) {
                Some((_, count)) => *count += 1,
                None => tally.push((labels, 1)),
            }
        }
        for ((mode, r#type, outcome), count) in tally {
            self.events_received
                .get_or_create(&EventLabels {
                    mode,
                    r#type: r#type.to_string(),
                    outcome,
                })
                .inc_by(count);
        }
    }

    pub fn reconciled(&self, action: &'static str, objects: i64) {
        if objects > 0 {
            self.reconcile_objects
                .get_or_create(&ActionLabel { action })
                .inc_by(objects.unsigned_abs());
        }
    }

    /// One notification delivery attempt: `delivered` or `failed`, and
    /// `dead` as well when a failure was the last try.
    pub fn delivery_attempt(&self, outcome: &'static str) {
        self.outbox_attempts
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// One status request (single or batch), by where it was answered from.
    pub fn status_check(&self, answered_from: &'static str) {
        self.status_checks
            .get_or_create(&AnsweredFromLabel { answered_from })
            .inc();
    }

    /// One question to Atlassian about blocked content, by its answer.
    pub fn verification_call(&self, outcome: &'static str) {
        self.verification_calls
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Everything, in OpenMetrics text, with the database figures refreshed
    /// when they are older than `DB_FIGURES_TTL`. `pools` are the process's
    /// connection pools (the figures are their sums); the first is queried.
    pub async fn render(&self, pools: &[&PgPool], cache: &DbFiguresCache) -> Result<String, Error> {
        let _one_at_a_time = self.render_lock.lock().await;
        let Some(&pool) = pools.first() else {
            return Err(Error::Internal("metrics: no connection pool".into()));
        };
        self.read_pools(pools);
        {
            let mut read_at = cache.0.lock().await;
            if read_at.is_none_or(|t| t.elapsed() >= DB_FIGURES_TTL) {
                self.read_database(pool).await?;
                *read_at = Some(Instant::now());
            }
            let age = read_at.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
            self.db_figures_age_seconds.set(age);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .map_err(|e| Error::Internal(format!("metrics could not be encoded: {e}")))?;
        Ok(out)
    }

    fn read_pools(&self, pools: &[&PgPool]) {
        let (mut size, mut idle, mut max) = (0i64, 0i64, 0i64);
        for pool in pools {
            size += i64::from(pool.size());
            idle += i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
            max += i64::from(pool.options().get_max_connections());
        }
        self.pool_connections
            .get_or_create(&StateLabel { state: "idle" })
            .set(idle);
        self.pool_connections
            .get_or_create(&StateLabel { state: "in_use" })
            .set((size - idle).max(0));
        self.pool_max.set(max);
    }

    async fn read_database(&self, pool: &PgPool) -> Result<(), Error> {
        let counts: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, count(*) FROM blocked_objects GROUP BY state")
                .fetch_all(pool)
                .await?;
        for state in ObjectState::ALL.into_iter().filter(|s| s.is_stored()) {
            let n = counts
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| *n);
            self.objects_by_state
                .get_or_create(&StateLabel {
                    state: state.as_str(),
                })
                .set(n);
        }
        let (backlog, dead): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL),
                    count(*) FILTER (WHERE dead_at IS NOT NULL)
             FROM outbox",
        )
        .fetch_one(pool)
        .await?;
        self.outbox_backlog.set(backlog);
        self.outbox_dead.set(dead);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
