//! One event object (after the envelope), strict and lenient.
#![no_main]

use aarc::ingest::events;
use aarc::Error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(serde_json::Value::Object(event)) = serde_json::from_slice(body) else {
        return;
    };
    for strict in [true, false] {
        match events::parse(event.clone(), strict) {
            Ok(e) => assert!(!e.id.is_empty() && !e.event_type.is_empty()),
            Err(e) => assert!(matches!(e, Error::InvalidRequest(_)), "{e:?}"),
        }
    }
});
