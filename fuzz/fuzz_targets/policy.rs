//! The body of `PUT /admin/sites/{cloudId}/policies` (operator input): each
//! policy that deserializes goes through `parse_policy`, which reads the
//! product, the action, the grace duration and the review mode.
//!
//! Checked: a refusal says why; an accepted policy has a lower-case product
//! and a type of 1 to 64 bytes, and its grace prints as a duration that
//! reads back as the same one.
#![no_main]

use aarc::domain::{HumanDuration, ReviewMode};
use aarc::http::policies::{parse_policy, PoliciesBody};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<PoliciesBody>(data) else {
        return;
    };
    let default_grace = HumanDuration::from_secs(30 * 86_400);
    for input in &body.policies {
        match parse_policy(input, default_grace, ReviewMode::Required) {
            Ok(p) => {
                assert!(!p.product.is_empty() && p.product == p.product.to_ascii_lowercase());
                assert!((1..=64).contains(&p.object_type.len()));
                let printed = p.grace.to_string();
                match HumanDuration::parse(&printed) {
                    Ok(back) => assert_eq!(back, p.grace, "{printed}"),
                    Err(e) => panic!("the printed grace {printed:?} does not parse: {e}"),
                }
            }
            Err(detail) => assert!(!detail.is_empty(), "a refusal that does not say why"),
        }
    }
});
