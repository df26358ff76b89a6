use secrecy::SecretString;

use super::CloudId;

/// A Connect installation's `clientKey`, the `iss` of its JWTs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey(String);

impl ClientKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > 255 || raw.chars().any(char::is_control) {
            return Err(format!(
                "clientKey {raw:?} must be 1 to 255 characters without control characters"
            ));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantKind {
    Connect,
    Forge,
}

impl TenantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Forge => "forge",
        }
    }
}

/// A tenant as the receiver needs it: who it is, which site it owns.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: uuid::Uuid,
    pub kind: TenantKind,
    /// clientKey (Connect) or installationId (Forge).
    pub key: String,
    pub cloud_id: CloudId,
    /// Connect `baseUrl` or Forge `apiBaseUrl`.
    pub base_url: Option<String>,
    /// Connect only: the HS256 secret shared at installation.
    pub shared_secret: Option<SecretString>,
    pub installed: bool,
}

/// What a verified Forge Invocation Token tells about its installation.
#[derive(Debug, Clone)]
pub struct ForgeInstallation {
    pub installation_id: String,
    pub app_id: String,
    pub cloud_id: CloudId,
    pub api_base_url: Option<String>,
    pub site_url: Option<url::Url>,
    /// The `x-forge-oauth-system` token sent with the request, and its expiry.
    pub system_token: Option<(SecretString, chrono::DateTime<chrono::Utc>)>,
}
