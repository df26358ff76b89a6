//! The reconciler: one pass verifies blocks with Atlassian, hides what policy
//! hides, makes purge decisions once grace periods pass, and delivers the
//! notifications that report all of it. Passes are safe on every replica:
//! each step claims its rows with `FOR UPDATE SKIP LOCKED`.

mod hide_scan;
pub mod notify;
mod registration;
pub mod verify;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::Config;
use crate::store::policies::DefaultPolicy;
use crate::store::reconcile::{self as steps, DueGroup, PassContext};
use crate::store::{outbox, tenants, verifications};
use crate::Error;
use verify::Verdict;

/// (site, product, type) groups decided per statement.
const DECIDE_GROUPS: usize = 200;
/// Messages claimed per delivery round.
const DELIVERY_BATCH: i64 = 100;

/// What one pass did (or, dry, would do).
#[derive(Debug, Default)]
pub struct PassReport {
    pub pass_id: Uuid,
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    pub verifications: Vec<String>,
    /// Sites asked at registration whether content was already blocked.
    pub registration_checks: Vec<String>,
    pub restored: i64,
    pub hidden: i64,
    pub decisions: i64,
    pub decided_objects: i64,
    pub purge_groups_waiting: Vec<String>,
    pub delivered: i64,
    pub delivery_failures: i64,
    pub dead: i64,
    pub hide_seconds: f64,
    pub decide_seconds: f64,
}

impl fmt::Display for PassReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run { "would be " } else { "" };
        writeln!(
            f,
            "pass {} at {}{}",
            self.pass_id,
            self.now.to_rfc3339(),
            if self.dry_run {
                " (dry run: nothing kept)"
            } else {
                ""
            }
        )?;
        for c in &self.registration_checks {
            writeln!(f, "  registration check {c}")?;
        }
        for v in &self.verifications {
            writeln!(f, "  verify {v}")?;
        }
        writeln!(f, "  restored {verb}{} object(s)", self.restored)?;
        writeln!(f, "  hidden {verb}{} object(s)", self.hidden)?;
        writeln!(
            f,
            "  purge decisions {verb}made: {} ({} object(s))",
            self.decisions, self.decided_objects
        )?;
        for w in &self.purge_groups_waiting {
            writeln!(f, "  purge waits: {w}")?;
        }
        write!(
            f,
            "  notifications delivered: {}, failed: {}, dead: {}",
            self.delivered, self.delivery_failures, self.dead
        )
    }
}

pub struct Reconciler {
    pool: PgPool,
    config: Arc<Config>,
    http: reqwest::Client,
    /// Sites whose blocked rows were scanned, and at which change counter.
    scanned: hide_scan::ScannedSites,
}

impl Reconciler {
    pub fn new(pool: PgPool, config: Arc<Config>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a TLS-capable HTTP client can always be built");
        Self {
            pool,
            config,
            http,
            scanned: Default::default(),
        }
    }

    fn context(&self, now: DateTime<Utc>) -> PassContext {
        PassContext {
            pass_id: Uuid::new_v4(),
            now,
            defaults: DefaultPolicy {
                action: self.config.default_action,
                grace: self.config.default_grace,
                review: self.config.default_review,
            },
        }
    }

    /// One pass at `now`. A dry run does every database step inside one
    /// transaction that is rolled back, and calls nobody.
    pub async fn run_pass(&self, now: DateTime<Utc>, dry_run: bool) -> Result<PassReport, Error> {
        let started = std::time::Instant::now();
        let report = self.pass(now, dry_run).await?;
        if !dry_run {
            let metrics = &crate::metrics::METRICS;
            metrics
                .reconcile_pass_seconds
                .observe(started.elapsed().as_secs_f64());
            metrics.reconciled("hidden", report.hidden);
            metrics.reconciled("restored", report.restored);
            metrics.reconciled("decided", report.decided_objects);
            metrics
                .reconcile_decisions
                .inc_by(report.decisions.unsigned_abs());
        }
        Ok(report)
    }

    async fn pass(&self, now: DateTime<Utc>, dry_run: bool) -> Result<PassReport, Error> {
        let ctx = self.context(now);
        let mut report = PassReport {
            pass_id: ctx.pass_id,
            now,
            dry_run,
            ..Default::default()
        };
        if dry_run {
            let mut tx = self.pool.begin().await?;
            let pairs = verifications::due_pairs(&mut tx, now).await?;
            report.verifications = pairs
                .iter()
                .map(|(s, p)| format!("{s} {p}: would ask Atlassian"))
                .collect();
            report.hidden = hide_scan::hide_all(&mut tx, &ctx, None).await?;
            let groups = steps::purge_due_groups(&mut tx, &ctx).await?;
            let (d, o) = decide_all(&mut tx, &ctx, &groups).await?;
            (report.decisions, report.decided_objects) = (d, o);
            tx.rollback().await?;
            return Ok(report);
        }
        let mut answered: HashMap<(String, String), bool> = HashMap::new();
        if self.config.verify {
            self.check_registrations(&ctx, &mut report).await?;
            let mut conn = self.pool.acquire().await?;
            let pairs = verifications::due_pairs(&mut conn, now).await?;
            drop(conn);
            for (site, product) in pairs {
                self.verify_pair(&ctx, &site, &product, &mut report, &mut answered)
                    .await?;
            }
        }
        let started = std::time::Instant::now();
        let mut conn = self.pool.acquire().await?;
        report.hidden = hide_scan::hide_all(&mut conn, &ctx, Some(&self.scanned)).await?;
        report.hide_seconds = started.elapsed().as_secs_f64();
        let groups = steps::purge_due_groups(&mut conn, &ctx).await?;
        drop(conn);
        let mut ready: Vec<DueGroup> = Vec::new();
        if self.config.verify {
            // Before any purge decision the block is verified in this pass.
            let pairs: HashSet<(String, String)> = groups
                .iter()
                .map(|g| (g.cloud_id.clone(), g.product.clone()))
                .collect();
            let mut pairs: Vec<_> = pairs.into_iter().collect();
            pairs.sort();
            for (site, product) in pairs {
                if !answered.contains_key(&(site.clone(), product.clone())) {
                    self.verify_pair(&ctx, &site, &product, &mut report, &mut answered)
                        .await?;
                }
            }
            for g in groups {
                match answered.get(&(g.cloud_id.clone(), g.product.clone())) {
                    Some(true) => ready.push(g),
                    Some(false) => {} // restored above
                    None => report.purge_groups_waiting.push(format!(
                        "{} {} {} ({} object(s)): block not verified in this pass",
                        g.cloud_id, g.product, g.object_type, g.objects
                    )),
                }
            }
        } else {
            ready = groups;
        }
        let started = std::time::Instant::now();
        let mut conn = self.pool.acquire().await?;
        let (d, o) = decide_all(&mut conn, &ctx, &ready).await?;
        (report.decisions, report.decided_objects) = (d, o);
        report.decide_seconds = started.elapsed().as_secs_f64();
        drop(conn);
        self.deliver_due(&ctx, &mut report).await?;
        // Housekeeping for the status cache's change counters.
        crate::store::status_versions::fold_departed(&self.pool).await?;
        Ok(report)
    }

    async fn verify_pair(
        &self,
        ctx: &PassContext,
        site: &str,
        product: &str,
        report: &mut PassReport,
        answered: &mut HashMap<(String, String), bool>,
    ) -> Result<(), Error> {
        let mut conn = self.pool.acquire().await?;
        if !verifications::may_ask(&mut conn, ctx.now, site, product).await? {
            report.verifications.push(format!(
                "{site} {product}: held back after an earlier failure"
            ));
            return Ok(());
        }
        let target = tenants::verification_target(&mut conn, site, ctx.now).await?;
        drop(conn);
        let verdict = match &target {
            None => Verdict::Unavailable("no installed tenant with usable credentials".into()),
            Some(t) => {
                verify::verify(&self.http, t, self.config.app_key.as_deref(), site, product).await
            }
        };
        let mut tx = self.pool.begin().await?;
        match &verdict {
            Verdict::AnyBlocked(any) => {
                verifications::record_answer(&mut tx, ctx.now, site, product, *any).await?;
                answered.insert((site.to_string(), product.to_string()), *any);
                if !any {
                    let cause =
                        serde_json::json!({"cause": "verification", "pass_id": ctx.pass_id});
                    let n =
                        steps::restore_product(&mut tx, ctx.now, site, Some(product), cause, None)
                            .await?;
                    report.restored += n;
                }
                report
                    .verifications
                    .push(format!("{site} {product}: anyContentBlocked={any}"));
            }
            Verdict::Unavailable(why) => {
                verifications::record_failure(
                    &mut tx,
                    ctx.now,
                    site,
                    product,
                    &format!("unavailable: {why}"),
                    None,
                )
                .await?;
                report
                    .verifications
                    .push(format!("{site} {product}: unavailable ({why})"));
            }
            Verdict::Failed { error, retry_after } => {
                let retry = retry_after.and_then(|d| chrono::Duration::from_std(d).ok());
                verifications::record_failure(&mut tx, ctx.now, site, product, error, retry)
                    .await?;
                report.verifications.push(format!(
                    "{site} {product}: failed ({error}); nothing changed"
                ));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// One delivery attempt for every due message.
    async fn deliver_due(&self, ctx: &PassContext, report: &mut PassReport) -> Result<(), Error> {
        let Some(url) = self.config.app_callback_url.clone() else {
            return Ok(()); // messages wait until a callback URL is configured
        };
        let mut seen = HashSet::new();
        loop {
            let mut conn = self.pool.acquire().await?;
            let batch = outbox::claim_due(&mut conn, ctx.now, DELIVERY_BATCH).await?;
            drop(conn);
            let batch: Vec<_> = batch.into_iter().filter(|m| seen.insert(m.id)).collect();
            if batch.is_empty() {
                return Ok(());
            }
            for message in batch {
                let body = serde_json::to_vec(&message.body).unwrap_or_default();
                let outcome = notify::deliver(
                    &self.http,
                    &url,
                    self.config.app_callback_secret.as_ref(),
                    &message.id.to_string(),
                    &body,
                )
                .await;
                let mut tx = self.pool.begin().await?;
                let (counted, dead) = match outcome {
                    notify::Delivery::Acknowledged => {
                        outbox::mark_delivered(&mut tx, ctx.now, message.id).await?;
                        if message.kind == "retention.purge" {
                            steps::complete_purge(&mut tx, ctx.now, message.id).await?;
                        }
                        report.delivered += 1;
                        ("delivered", false)
                    }
                    notify::Delivery::Failed { error, retry_after } => {
                        let not_before = retry_after
                            .and_then(|d| chrono::Duration::from_std(d).ok())
                            .map(|d| ctx.now + d);
                        let dead =
                            outbox::mark_failed(&mut tx, ctx.now, &message, &error, not_before)
                                .await?;
                        report.delivery_failures += 1;
                        if dead {
                            report.dead += 1;
                            tracing::error!(message_id = %message.id, %error, "notification is dead after too many attempts");
                        }
                        ("failed", dead)
                    }
                };
                tx.commit().await?;
                let metrics = &crate::metrics::METRICS;
                metrics.delivery_attempt(counted);
                if dead {
                    metrics.delivery_attempt("dead");
                }
            }
        }
    }

    /// Passes every `interval` until `stop` says otherwise.
    pub async fn run_forever(
        self: Arc<Self>,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            match self.run_pass(Utc::now(), false).await {
                Ok(r)
                    if r.hidden + r.decisions + r.restored + r.delivered + r.delivery_failures
                        > 0 =>
                {
                    tracing::info!(
                        hidden = r.hidden,
                        decisions = r.decisions,
                        restored = r.restored,
                        delivered = r.delivered,
                        failed = r.delivery_failures,
                        "reconciler pass"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reconciler pass failed; retrying at the next interval")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

async fn decide_all(
    conn: &mut sqlx::PgConnection,
    ctx: &PassContext,
    groups: &[DueGroup],
) -> Result<(i64, i64), Error> {
    let (mut decisions, mut objects) = (0, 0);
    for chunk in groups.chunks(DECIDE_GROUPS) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let (d, o) = steps::decide_groups(&mut tx, ctx, chunk).await?;
        tx.commit().await?;
        decisions += d;
        objects += o;
    }
    Ok((decisions, objects))
}
