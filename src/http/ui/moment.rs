//! Times as the page shows them: relative ("3 hours ago") for a quick read,
//! absolute (UTC) for the record, ISO 8601 for the `<time>` element.

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Serialize)]
pub struct Moment {
    pub iso: String,
    pub absolute: String,
    pub relative: String,
}

impl Moment {
    pub fn new(at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self {
            iso: at.to_rfc3339(),
            absolute: at.format("%Y-%m-%d %H:%M UTC").to_string(),
            relative: relative(at, now),
        }
    }

    pub fn maybe(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Self> {
        at.map(|at| Self::new(at, now))
    }
}

/// "just now", "5 minutes ago", "in 3 days"…
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    let (future, secs) = (secs < 0, secs.unsigned_abs());
    if secs < 45 {
        return "just now".into();
    }
    let (n, unit) = match secs {
        s if s < 90 * 60 => ((s + 30) / 60, "minute"),
        s if s < 36 * 3600 => ((s + 1800) / 3600, "hour"),
        s if s < 60 * 86400 => ((s + 43200) / 86400, "day"),
        s if s < 730 * 86400 => ((s + 15 * 86400) / (30 * 86400), "month"),
        s => ((s + 182 * 86400) / (365 * 86400), "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn reads_like_a_person_would_say_it() {
        let now = Utc::now();
        assert_eq!(relative(now - Duration::seconds(10), now), "just now");
        assert_eq!(relative(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(relative(now - Duration::minutes(5), now), "5 minutes ago");
        assert_eq!(relative(now - Duration::hours(3), now), "3 hours ago");
        assert_eq!(relative(now + Duration::days(2), now), "in 2 days");
        assert_eq!(relative(now - Duration::days(90), now), "3 months ago");
        assert_eq!(relative(now - Duration::days(800), now), "2 years ago");
    }
}
