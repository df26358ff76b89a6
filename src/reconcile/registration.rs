//! After a tenant registers, aarc asks Atlassian once per product whether any
//! content is already blocked from the app. Blocks made before the
//! installation never reached the app as events, so when the answer is yes the
//! site summary warns that some blocks may be unknown. Runs at the first pass
//! after registration; a failed check is retried an hour later.

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
        let mut conn = self.pool.acquire().await?;
        let sites = observations::sites_to_check(&mut conn, ctx.now).await?;
        for site in sites {
            let target = tenants::verification_target(&mut conn, &site, ctx.now).await?;
            for product in PRODUCTS {
                let outcome = match &target {
                    None => Err("no installed tenant with usable credentials".to_string()),
                    Some(t) => match verify::verify(
                        &self.http,
                        t,
                        self.config.app_key.as_deref(),
                        &site,
                        product,
                    )
                    .await
                    {
                        Verdict::AnyBlocked(any) => Ok(any),
                        Verdict::Unavailable(why) => Err(format!("unavailable: {why}")),
                        Verdict::Failed { error, .. } => Err(error),
                    },
                };
                report.registration_checks.push(match &outcome {
                    Ok(any) => format!("{site} {product}: anyContentBlocked={any}"),
                    Err(e) => format!("{site} {product}: failed ({e})"),
                });
                observations::record_check(&mut conn, ctx.now, &site, product, outcome).await?;
            }
        }
        Ok(())
    }
}
