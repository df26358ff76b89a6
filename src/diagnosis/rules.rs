//! The classifier as data: one table of rules, tried in order, first match
//! wins. Each rule names what it looks at (status, a response header, words in
//! Atlassian's message, who called, what kind of operation) and what it
//! concludes (a verdict and advice an admin can act on). The README prints the
//! same table; `tests` below holds one realistic observation per rule.

use super::{Actor, Operation, Verdict};

/// Which statuses a rule applies to.
#[derive(Debug, Clone, Copy)]
pub enum StatusIs {
    Any,
    Exactly(u16),
    OneOf(&'static [u16]),
    Success,
}

impl StatusIs {
    fn matches(self, status: u16) -> bool {
        match self {
            Self::Any => true,
            Self::Exactly(s) => status == s,
            Self::OneOf(list) => list.contains(&status),
            Self::Success => (200..300).contains(&status),
        }
    }
}

#[derive(Debug)]
pub struct Rule {
    pub name: &'static str,
    pub status: StatusIs,
    /// A response header (lower-case name) whose value contains this text.
    pub header: Option<(&'static str, &'static str)>,
    /// Any of these words in Atlassian's message (case-insensitive).
    pub message_has_any: &'static [&'static str],
    pub actor: Option<Actor>,
    pub operation: Option<Operation>,
    pub verdict: Verdict,
    pub advice: &'static str,
}

/// What the app saw, as the classifier needs it.
pub struct Seen<'a> {
    pub status: u16,
    /// Header names in lower case.
    pub headers: &'a [(String, String)],
    pub message: &'a str,
    pub actor: Actor,
    pub operation: Operation,
}

pub const POLICY_HEADER: (&str, &str) = ("atlassian-datasecuritypolicy", "app_access_blocked");

const NO_WORDS: &[&str] = &[];

pub const RULES: &[Rule] = &[
    Rule {
        name: "policy-header",
        status: StatusIs::Any,
        header: Some(POLICY_HEADER),
        message_has_any: NO_WORDS,
        actor: None,
        operation: None,
        verdict: Verdict::BlockedByPolicy,
        advice: "An App Access Rule (data security policy) blocks the app from this content. \
                 A site or organization admin can change the rule in Atlassian Administration \
                 under Security > Data security policies; until then the app's data about it \
                 follows your retention policy.",
    },
    Rule {
        name: "installation-unauthorized",
        status: StatusIs::Exactly(401),
        header: None,
        message_has_any: NO_WORDS,
        actor: None,
        operation: None,
        verdict: Verdict::InstallationUnauthorized,
        advice: "Atlassian did not accept the app's credentials: the app was uninstalled or \
                 disabled on this site, or its installation secret is out of date. Reinstall \
                 or re-enable the app from the site's Manage apps page.",
    },
    Rule {
        name: "user-lacks-product-access",
        status: StatusIs::Exactly(403),
        header: None,
        message_has_any: &["not permitted to use"],
        actor: None,
        operation: None,
        verdict: Verdict::UserLacksProductAccess,
        advice: "The user has no access to this product. A site admin can grant it in \
                 Atlassian Administration under the product's user access (add the user or \
                 one of their groups).",
    },
    Rule {
        name: "site-admin-required",
        status: StatusIs::Exactly(403),
        header: None,
        message_has_any: &[
            "group",
            "site admin",
            "site-admin",
            "user management",
            "organization admin",
        ],
        actor: None,
        operation: Some(Operation::Admin),
        verdict: Verdict::MissingAdminPermission,
        advice: "This operation needs site admin permission (group and user management), which \
                 the caller lacks. A site admin can perform it or grant the permission.",
    },
    Rule {
        name: "space-admin-required",
        status: StatusIs::Exactly(403),
        header: None,
        message_has_any: &["space"],
        actor: None,
        operation: Some(Operation::Admin),
        verdict: Verdict::MissingAdminPermission,
        advice: "This operation needs space admin permission on the space, which the caller \
                 lacks. A space admin can perform it or grant the Admin space permission.",
    },
    Rule {
        name: "admin-permission-required",
        status: StatusIs::Exactly(403),
        header: None,
        message_has_any: NO_WORDS,
        actor: None,
        operation: Some(Operation::Admin),
        verdict: Verdict::MissingAdminPermission,
        advice: "This administrative operation needs a permission the caller lacks (site or \
                 space/project admin). An admin can perform it or grant the permission.",
    },
    Rule {
        name: "app-user-restricted",
        status: StatusIs::OneOf(&[403, 404]),
        header: None,
        message_has_any: &["permission", "restricted", "not permitted", "not allowed"],
        actor: Some(Actor::App),
        operation: None,
        verdict: Verdict::AppUserRestricted,
        advice: "A page or space restriction (or a project permission) leaves out the app's \
                 user. A space admin can add the app to the restriction or give it the space \
                 permission it needs.",
    },
    Rule {
        name: "content-not-found",
        status: StatusIs::Exactly(404),
        header: None,
        message_has_any: NO_WORDS,
        actor: None,
        operation: None,
        verdict: Verdict::NotFound,
        advice: "Atlassian says the content does not exist: it was deleted, moved to another \
                 site, or its id is wrong. Nothing to fix on the app's side.",
    },
    Rule {
        name: "app-forbidden",
        status: StatusIs::Exactly(403),
        header: None,
        message_has_any: NO_WORDS,
        actor: Some(Actor::App),
        operation: None,
        verdict: Verdict::AppUserRestricted,
        advice: "The app's user is refused this content without a policy header: most often a \
                 page or space restriction that leaves out the app. A space admin can add the \
                 app to the restriction or give it the space permission it needs.",
    },
    Rule {
        name: "accessible",
        status: StatusIs::Success,
        header: None,
        message_has_any: NO_WORDS,
        actor: None,
        operation: None,
        verdict: Verdict::Accessible,
        advice: "The last call succeeded: the content is accessible to the caller.",
    },
];

/// The answer when no rule matches.
pub const UNKNOWN: Rule = Rule {
    name: "unknown",
    status: StatusIs::Any,
    header: None,
    message_has_any: NO_WORDS,
    actor: None,
    operation: None,
    verdict: Verdict::Unknown,
    advice: "aarc has no rule for this answer. Check the status and message Atlassian returned; \
             if it repeats, report it so a rule can be added.",
};

impl Rule {
    fn matches(&self, seen: &Seen) -> bool {
        self.status.matches(seen.status)
            && self.header.is_none_or(|(name, value)| {
                seen.headers
                    .iter()
                    .any(|(n, v)| n == name && v.to_ascii_lowercase().contains(value))
            })
            && (self.message_has_any.is_empty() || {
                let message = seen.message.to_lowercase();
                self.message_has_any.iter().any(|w| message.contains(w))
            })
            && self.actor.is_none_or(|a| a == seen.actor)
            && self.operation.is_none_or(|o| o == seen.operation)
    }
}

/// The first rule that matches, or `UNKNOWN`.
pub fn classify(seen: &Seen) -> &'static Rule {
    RULES.iter().find(|r| r.matches(seen)).unwrap_or(&UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(
        status: u16,
        headers: &[(&str, &str)],
        message: &str,
        actor: Actor,
        operation: Operation,
    ) -> &'static str {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect();
        classify(&Seen {
            status,
            headers: &headers,
            message,
            actor,
            operation,
        })
        .name
    }

    use Actor::{App, User};
    use Operation::{Admin, Read, Write};

    #[test]
    fn every_rule_is_reached_by_a_realistic_observation() {
        let cases = [
            (
                seen(
                    404,
                    &[("Atlassian-DataSecurityPolicy", "app_access_blocked")],
                    "Not Found",
                    App,
                    Read,
                ),
                "policy-header",
            ),
            (
                seen(
                    403,
                    &[("Atlassian-DataSecurityPolicy", "app_access_blocked")],
                    "",
                    App,
                    Write,
                ),
                "policy-header",
            ),
            (
                seen(401, &[], "Unauthorized; scope does not match", App, Read),
                "installation-unauthorized",
            ),
            (
                seen(
                    403,
                    &[],
                    "Current user not permitted to use Confluence",
                    User,
                    Read,
                ),
                "user-lacks-product-access",
            ),
            (
                seen(
                    403,
                    &[],
                    "You must be a site admin to add users to the group confluence-users",
                    App,
                    Admin,
                ),
                "site-admin-required",
            ),
            (
                seen(
                    403,
                    &[],
                    "User does not have permission to administer space DEV",
                    App,
                    Admin,
                ),
                "space-admin-required",
            ),
            (
                seen(403, &[], "Forbidden", User, Admin),
                "admin-permission-required",
            ),
            (
                seen(
                    403,
                    &[],
                    "User not permitted to view content: it is restricted",
                    App,
                    Read,
                ),
                "app-user-restricted",
            ),
            (
                seen(
                    404,
                    &[],
                    "Issue does not exist or you do not have permission to see it.",
                    App,
                    Read,
                ),
                "app-user-restricted",
            ),
            (
                seen(404, &[], "No content found with id: 12345", User, Read),
                "content-not-found",
            ),
            (seen(403, &[], "", App, Read), "app-forbidden"),
            (seen(200, &[], "", App, Read), "accessible"),
            (seen(204, &[], "", User, Write), "accessible"),
            (
                seen(500, &[], "Internal Server Error", App, Read),
                "unknown",
            ),
            (seen(403, &[], "Forbidden", User, Read), "unknown"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        // Every rule in the table is exercised above.
        for rule in RULES {
            assert!(
                cases.iter().any(|(_, want)| *want == rule.name),
                "rule {} has no test",
                rule.name
            );
        }
    }

    #[test]
    fn a_policy_header_wins_over_everything_else() {
        assert_eq!(
            seen(
                200,
                &[("atlassian-datasecuritypolicy", "APP_ACCESS_BLOCKED")],
                "",
                App,
                Read
            ),
            "policy-header"
        );
    }

    #[test]
    fn the_readme_documents_every_rule_with_its_verdict() {
        let readme = include_str!("../../README.md");
        for rule in RULES.iter().chain(std::iter::once(&UNKNOWN)) {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", rule.name)))
                .unwrap_or_else(|| panic!("README has no row for rule {}", rule.name));
            assert!(
                row.trim_end()
                    .ends_with(&format!("`{}` |", rule.verdict.as_str())),
                "README row for {} names another verdict: {row}",
                rule.name
            );
        }
    }

    #[test]
    fn rule_names_are_unique() {
        let mut names: Vec<&str> = RULES.iter().map(|r| r.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
    }
}
