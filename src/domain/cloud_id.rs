use std::fmt;

/// The id of an Atlassian site ("cloudId"). In practice a UUID; we accept the
/// character set of one so that test and staging ids still work.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct CloudId(String);

impl CloudId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(format!(
                "cloudId {raw:?} is not a site id (1 to 64 letters, digits or '-')"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CloudId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuid_and_refuses_junk() {
        assert!(CloudId::parse("a436116f-02ce-4520-8fbb-7301462a1674").is_ok());
        assert!(CloudId::parse("").is_err());
        assert!(CloudId::parse("a/b").is_err());
        assert!(CloudId::parse(&"a".repeat(65)).is_err());
    }
}
