use std::fmt;

/// Where an object stands (contract §4). `Clear` is never stored: it is the
/// answer for objects aarc has no block for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectState {
    Clear,
    Blocked,
    Hidden,
    PendingReview,
    Purging,
    Purged,
    Restored,
}

impl ObjectState {
    pub const ALL: [ObjectState; 7] = [
        Self::Clear,
        Self::Blocked,
        Self::Hidden,
        Self::PendingReview,
        Self::Purging,
        Self::Purged,
        Self::Restored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clear => "clear",
            Self::Blocked => "blocked",
            Self::Hidden => "hidden",
            Self::PendingReview => "pending_review",
            Self::Purging => "purging",
            Self::Purged => "purged",
            Self::Restored => "restored",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("state {raw:?} is not one of {}", names.join(", "))
            })
    }

    /// Whether a row can hold this state (`Clear` means "no row").
    pub fn is_stored(self) -> bool {
        self != Self::Clear
    }

    /// Whether the app is blocked from the object in this state.
    pub fn is_blocked(self) -> bool {
        !matches!(self, Self::Clear | Self::Restored)
    }
}

impl fmt::Display for ObjectState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_and_junk_is_named() {
        for s in ObjectState::ALL {
            assert_eq!(ObjectState::parse(s.as_str()).unwrap(), s);
        }
        let err = ObjectState::parse("Blocked").unwrap_err();
        assert!(err.contains("pending_review"));
        assert!(!ObjectState::Restored.is_blocked() && ObjectState::Purged.is_blocked());
    }
}
