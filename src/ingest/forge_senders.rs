//! Registering the Forge installations of a group's accepted requests: once
//! per installation, not once per request. A storm from one site brings
//! dozens of requests of the same installation to a group, and each
//! registration is a round trip before the group's statement.
//!
//! The one registration stores what the requests' registrations in order
//! would have left: the later app id, the newest non-empty URLs, and the
//! system token that expires last (on a tie, the later request's).

use crate::domain::{ForgeInstallation, Tenant};
use crate::store;
use crate::Error;

/// A registered sender and, for the first request of an installation new
/// to aarc, its site (which the caller hands to the reconciler).
pub type Registered = (Tenant, Option<String>);

/// Registers each installation among `accepted` (request index and its
/// installation, in request order) once; answers the tenant of every index.
pub async fn register(
    conn: &mut sqlx::PgConnection,
    accepted: &[(usize, &ForgeInstallation)],
) -> Result<Vec<(usize, Registered)>, Error> {
    let mut registered = Vec::with_capacity(accepted.len());
    for (inst, indexes) in merged(accepted) {
        let (tenant, created) = store::tenants::upsert_forge(conn, &inst).await?;
        let mut new_site = created.then(|| tenant.cloud_id.to_string());
        for index in indexes {
            registered.push((index, (tenant.clone(), new_site.take())));
        }
    }
    Ok(registered)
}

/// The requests of one installation on one site, merged, with their
/// indexes. A token naming another site keeps its own registration: its
/// events are checked against that site and stored under it.
fn merged(accepted: &[(usize, &ForgeInstallation)]) -> Vec<(ForgeInstallation, Vec<usize>)> {
    let mut merged: Vec<(ForgeInstallation, Vec<usize>)> = Vec::new();
    for &(index, inst) in accepted {
        let same = |m: &ForgeInstallation| {
            m.installation_id == inst.installation_id && m.cloud_id == inst.cloud_id
        };
        match merged.iter_mut().find(|(m, _)| same(m)) {
            Some((m, indexes)) => {
                merge(m, inst);
                indexes.push(index);
            }
            None => merged.push((inst.clone(), vec![index])),
        }
    }
    merged
}

/// `later` registered after `into`, as `upsert_forge` would combine them.
fn merge(into: &mut ForgeInstallation, later: &ForgeInstallation) {
    into.app_id = later.app_id.clone();
    if later.api_base_url.is_some() {
        into.api_base_url = later.api_base_url.clone();
    }
    if later.site_url.is_some() {
        into.site_url = later.site_url.clone();
    }
    let newer = match (&into.system_token, &later.system_token) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some((_, held)), Some((_, offered))) => offered >= held,
    };
    if newer {
        into.system_token = later.system_token.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::{ExposeSecret, SecretString};

    const SITE: &str = "7f3c2b1a-0d4e-4c5f-9a8b-1e2d3c4b5a69";

    fn inst(base: Option<&str>, token: Option<(&str, i64)>) -> ForgeInstallation {
        ForgeInstallation {
            installation_id: "ari:install/1".into(),
            app_id: "app".into(),
            cloud_id: crate::domain::CloudId::parse("7f3c2b1a-0d4e-4c5f-9a8b-1e2d3c4b5a69")
                .unwrap(),
            api_base_url: base.map(str::to_string),
            site_url: None,
            system_token: token.map(|(t, secs)| {
                (
                    SecretString::from(t.to_string()),
                    chrono::DateTime::from_timestamp(secs, 0).unwrap(),
                )
            }),
        }
    }

    #[test]
    fn the_merge_keeps_the_newest_url_and_the_token_that_expires_last() {
        let mut m = inst(Some("https://a"), Some(("late", 200)));
        merge(&mut m, &inst(None, Some(("early", 100))));
        merge(&mut m, &inst(Some("https://b"), None));
        assert_eq!(m.api_base_url.as_deref(), Some("https://b"));
        let (token, _) = m.system_token.as_ref().unwrap();
        assert_eq!(token.expose_secret(), "late");
        merge(&mut m, &inst(None, Some(("tie", 200))));
        assert_eq!(
            m.system_token.unwrap().0.expose_secret(),
            "tie",
            "a tie goes to the later"
        );
    }

    #[test]
    fn requests_naming_another_site_are_registered_apart() {
        let a = inst(None, None);
        let mut b = inst(None, None);
        b.cloud_id = crate::domain::CloudId::parse("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d").unwrap();
        let groups = merged(&[(0, &a), (1, &b), (2, &a)]);
        let indexes: Vec<Vec<usize>> = groups.iter().map(|(_, i)| i.clone()).collect();
        assert_eq!(indexes, vec![vec![0, 2], vec![1]]);
        assert_eq!(groups[0].0.cloud_id.as_str(), SITE);
    }
}
