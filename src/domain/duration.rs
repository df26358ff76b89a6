use std::fmt;
use std::time::Duration;

/// A duration written the way people write them in configuration: `90s`,
/// `15m`, `12h`, `30d`. The same syntax is used by configuration, API and CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(Duration);

impl HumanDuration {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let err = || format!("{raw:?} is not a duration such as 90s, 15m, 12h or 30d");
        if raw.len() < 2 {
            return Err(err());
        }
        // The unit is the last character, which may be more than one byte.
        let last = raw.chars().next_back().ok_or_else(err)?;
        let (digits, unit) = raw.split_at(raw.len() - last.len_utf8());
        let n: u64 = digits.parse().map_err(|_| err())?;
        let secs = match unit {
            "s" => Some(n),
            "m" => n.checked_mul(60),
            "h" => n.checked_mul(3_600),
            "d" => n.checked_mul(86_400),
            _ => None,
        }
        .ok_or_else(err)?;
        Ok(Self(Duration::from_secs(secs)))
    }

    pub fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        match s {
            0 => write!(f, "0s"),
            s if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            s if s % 3_600 == 0 => write!(f, "{}h", s / 3_600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_ascii_unit_is_refused_not_panicked_on() {
        // Found by the `policy` fuzz target: "5é" used to split inside 'é'.
        assert!(HumanDuration::parse("5é").is_err());
        assert!(HumanDuration::parse("é").is_err());
        assert!(HumanDuration::parse("30日").is_err());
    }

    #[test]
    fn parses_each_unit_and_prints_it_back() {
        for (text, secs) in [
            ("90s", 90),
            ("15m", 900),
            ("12h", 43_200),
            ("30d", 2_592_000),
        ] {
            let d = HumanDuration::parse(text).unwrap();
            assert_eq!(d.as_duration().as_secs(), secs);
            assert_eq!(d.to_string(), text);
        }
    }

    #[test]
    fn refuses_missing_unit_negative_and_overflow() {
        for bad in ["", "5", "d", "-5m", "1w", "1.5h", "99999999999999999999d"] {
            assert!(HumanDuration::parse(bad).is_err(), "{bad}");
        }
    }
}
