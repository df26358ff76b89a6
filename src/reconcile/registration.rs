//! After a tenant registers, aarc asks Atlassian once per product whether any
//! content is already blocked from the app. Blocks made before the
//! installation never reached the app as events, so when the answer is yes the
//! site summary warns that some blocks may be unknown. Registrations through
//! HTTP (Connect routes, a Forge tenant's first token) ask at once, in the
//! background; every pass asks for sites not yet checked (CLI registrations,
//! checks lost to a restart) and retries a failed check after an hour.

use super::verify::{self, Verdict};
use super::{PassContext, PassReport, Reconciler};
use crate::store::{observations, tenants};
use crate::Error;

/// The products whose data-policy endpoint aarc can ask.
const PRODUCTS: [&str; 2] = ["confluence", "jira"];

impl Reconciler {
    pub(super) async fn check_registrations(
        &self,
        ctx: &PassContext,
        report: &mut PassReport,
    ) -> Result<(), Error> {
        let sites = {
            let mut conn = self.pool.acquire().await?;
            observations::sites_to_check(&mut conn, ctx.now).await?
        };
        for site in sites {
            let lines = self.check_site(&site, ctx.now).await?;
            report.registration_checks.extend(lines);
        }
        Ok(())
    }

    /// Asks Atlassian about one site now (a tenant just registered); returns
    /// one line per product saying what it answered.
    pub async fn check_site(
        &self,
        site: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, Error> {
        let mut conn = self.pool.acquire().await?;
        let target = tenants::verification_target(&mut conn, site, now).await?;
        drop(conn);
        let mut lines = Vec::new();
        for product in PRODUCTS {
            let outcome = match &target {
                None => Err("no installed tenant with usable credentials".to_string()),
                Some(t) => match verify::verify(
                    &self.http,
                    t,
                    self.config.app_key.as_deref(),
                    site,
                    product,
                )
                .await
                {
                    Verdict::AnyBlocked(any) => Ok(any),
                    Verdict::Unavailable(why) => Err(format!("unavailable: {why}")),
                    Verdict::Failed { error, .. } => Err(error),
                },
            };
            lines.push(match &outcome {
                Ok(any) => format!("{site} {product}: anyContentBlocked={any}"),
                Err(e) => format!("{site} {product}: failed ({e})"),
            });
            let mut conn = self.pool.acquire().await?;
            observations::record_check(&mut conn, now, site, product, outcome).await?;
        }
        Ok(lines)
    }

    /// Starts `check_site` in the background, for a registration route that
    /// must not wait on Atlassian. Failures are logged; the next pass retries.
    pub fn check_site_soon(self: &std::sync::Arc<Self>, site: String) {
        if !self.config.verify {
            return;
        }
        let this = self.clone();
        actix_web::rt::spawn(async move {
            match this.check_site(&site, chrono::Utc::now()).await {
                Ok(lines) => tracing::info!(site = %site, result = ?lines, "registration check"),
                Err(e) => {
                    tracing::warn!(site = %site, error = %e, "registration check failed; the next pass retries")
                }
            }
        });
    }
}
