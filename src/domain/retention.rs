use std::fmt;

/// What happens to the app's data about a blocked object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionAction {
    Keep,
    Hide,
    Purge,
}

impl RetentionAction {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "keep" => Ok(Self::Keep),
            "hide" => Ok(Self::Hide),
            "purge" => Ok(Self::Purge),
            _ => Err(format!(
                "{raw:?} is not a retention action (keep, hide or purge)"
            )),
        }
    }
}

impl fmt::Display for RetentionAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Keep => "keep",
            Self::Hide => "hide",
            Self::Purge => "purge",
        })
    }
}

/// Whether a purge decision waits for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewMode {
    Required,
    Auto,
}

impl ReviewMode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "required" => Ok(Self::Required),
            "auto" => Ok(Self::Auto),
            _ => Err(format!("{raw:?} is not a review mode (required or auto)")),
        }
    }
}

impl fmt::Display for ReviewMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Required => "required",
            Self::Auto => "auto",
        })
    }
}
