//! "Why can't the app see this?" beyond App Access Rules (contract §4.1): the
//! app's services report what Atlassian answered them; aarc classifies each
//! answer with the rules in `rules`, keeps it as evidence, and lets it feed the
//! block state (a policy header blocks; a successful read asks for verification).

pub mod diagnose;
pub mod rules;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::ObjectRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    BlockedByPolicy,
    AppUserRestricted,
    UserLacksProductAccess,
    MissingAdminPermission,
    InstallationUnauthorized,
    NotFound,
    Accessible,
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlockedByPolicy => "blocked_by_policy",
            Self::AppUserRestricted => "app_user_restricted",
            Self::UserLacksProductAccess => "user_lacks_product_access",
            Self::MissingAdminPermission => "missing_admin_permission",
            Self::InstallationUnauthorized => "installation_unauthorized",
            Self::NotFound => "not_found",
            Self::Accessible => "accessible",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::BlockedByPolicy,
            Self::AppUserRestricted,
            Self::UserLacksProductAccess,
            Self::MissingAdminPermission,
            Self::InstallationUnauthorized,
            Self::NotFound,
            Self::Accessible,
            Self::Unknown,
        ]
        .into_iter()
        .find(|v| v.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    App,
    User,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::User => "user",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    Write,
    Admin,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

/// One observation, parsed and classified.
#[derive(Debug, Clone)]
pub struct Observation {
    pub object: ObjectRef,
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub message: String,
    pub actor: Actor,
    pub operation: Operation,
    pub observed_at: DateTime<Utc>,
    pub rule: &'static rules::Rule,
}

impl Observation {
    /// A response Atlassian marked with the App Access Rule header.
    pub fn shows_policy_block(&self) -> bool {
        self.rule.verdict == Verdict::BlockedByPolicy
    }

    /// A successful call without the policy header.
    pub fn shows_access(&self) -> bool {
        self.rule.verdict == Verdict::Accessible
    }
}

/// The wire form of one observation (contract §4.1).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct ObservationInput {
    pub product: String,
    #[serde(rename = "type")]
    pub object_type: String,
    pub id: String,
    /// The HTTP status the app got from Atlassian.
    pub status: u16,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub message: Option<String>,
    /// `app` (the app's own user) or `user` (acting as a user).
    pub actor: String,
    /// `read`, `write` or `admin`.
    pub operation: String,
    /// When the app made the call (default: now).
    #[serde(default)]
    pub observed_at: Option<DateTime<Utc>>,
}

impl ObservationInput {
    /// Checks every field and classifies; the error names the field.
    pub fn parse(self, now: DateTime<Utc>) -> Result<Observation, String> {
        let object = ObjectRef::parse_named(&self.product, &self.object_type, &self.id)?;
        if !(100..=599).contains(&self.status) {
            return Err(format!("status {} is not an HTTP status", self.status));
        }
        let actor = match self.actor.as_str() {
            "app" => Actor::App,
            "user" => Actor::User,
            other => return Err(format!("actor {other:?} must be \"app\" or \"user\"")),
        };
        let operation = match self.operation.as_str() {
            "read" => Operation::Read,
            "write" => Operation::Write,
            "admin" => Operation::Admin,
            other => {
                return Err(format!(
                    "operation {other:?} must be \"read\", \"write\" or \"admin\""
                ))
            }
        };
        let message = self.message.unwrap_or_default();
        if message.chars().count() > 2000 {
            return Err("message is longer than 2000 characters".into());
        }
        if self.headers.len() > 50 {
            return Err("headers: at most 50 are kept".into());
        }
        // PostgreSQL stores U+0000 in neither text nor jsonb.
        if message.contains('\0') {
            return Err("message contains the character U+0000, which cannot be stored".into());
        }
        if let Some(name) = self
            .headers
            .iter()
            .find(|(n, v)| n.contains('\0') || v.contains('\0'))
            .map(|(n, _)| n)
        {
            return Err(format!(
                "header {name:?} contains the character U+0000, which cannot be stored"
            ));
        }
        let headers: Vec<(String, String)> = self
            .headers
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect();
        let observed_at = self.observed_at.unwrap_or(now);
        if observed_at > now + chrono::Duration::minutes(5) {
            return Err(format!("observed_at {observed_at} is in the future"));
        }
        let rule = rules::classify(&rules::Seen {
            status: self.status,
            headers: &headers,
            message: &message,
            actor,
            operation,
        });
        Ok(Observation {
            object,
            status: self.status,
            headers,
            message,
            actor,
            operation,
            observed_at,
            rule,
        })
    }
}
