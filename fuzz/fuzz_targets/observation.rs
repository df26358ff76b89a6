//! The body of `POST /v1/sites/{cloudId}/observations`: a batch of what the
//! app's services saw Atlassian answer. Each observation that deserializes
//! is checked and classified (`ObservationInput::parse`), at a fixed "now"
//! so that a crash repeats.
//!
//! Checked: a refusal says why; an accepted observation keeps only what the
//! database can store (lower-case header names, no U+0000, a bounded
//! message, an HTTP status, a time not in the future).
#![no_main]

use aarc::http::diagnosis::ObservationBatch;
use chrono::{DateTime, Duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = serde_json::from_slice::<ObservationBatch>(data) else {
        return;
    };
    let Some(now) = DateTime::from_timestamp(1_795_000_000, 0) else {
        return;
    };
    for input in batch.observations {
        match input.parse(now) {
            Ok(o) => {
                assert!((100..=599).contains(&o.status));
                assert!(o.message.chars().count() <= 2000 && !o.message.contains('\0'));
                assert!(o.headers.len() <= 50);
                for (name, value) in &o.headers {
                    assert_eq!(name, &name.to_ascii_lowercase());
                    assert!(!name.contains('\0') && !value.contains('\0'));
                }
                assert!(o.observed_at <= now + Duration::minutes(5));
                assert!(!o.object.id.is_empty() && !o.object.object_type.is_empty());
                assert!(!(o.shows_policy_block() && o.shows_access()));
            }
            Err(detail) => assert!(!detail.is_empty(), "a refusal that does not say why"),
        }
    }
});
