//! One observation reported by the app's services (`POST …/observations`).
#![no_main]

use aarc::diagnosis::ObservationInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(input) = serde_json::from_slice::<ObservationInput>(body) else {
        return;
    };
    if let Err(detail) = input.parse(chrono::Utc::now()) {
        assert!(!detail.is_empty(), "a refusal says why");
    }
});
