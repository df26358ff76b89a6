//! One event object as the envelope hands it over: the input must be a JSON
//! object (anything else is the envelope's business), and is parsed strictly
//! (CloudEvents modes) and leniently (plain JSON).
//!
//! Checked: a refusal is a 400; an accepted event has an id, a source and a
//! type; and whatever the strict parse accepts, the lenient one accepts with
//! the same meaning.
#![no_main]

use aarc::domain::{EventKind, PolicyEvent};
use aarc::ingest::events;
use aarc::Error;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fn parse(event: &Map<String, Value>, strict: bool) -> Option<PolicyEvent> {
    match events::parse(event.clone(), strict) {
        Ok(e) => {
            assert!(!e.id.is_empty(), "an accepted event without an id");
            assert!(!e.source.is_empty(), "an accepted event without a source");
            assert!(!e.event_type.is_empty(), "an accepted event without a type");
            assert!(
                serde_json::from_str::<Value>(&e.raw).is_ok_and(|v| v.is_object()),
                "the stored form is not a JSON object"
            );
            match &e.kind {
                EventKind::ObjectsBlocked(objects) => {
                    assert!(!objects.is_empty(), "a block event without objects")
                }
                EventKind::ContentBlockedInContainer(c) => assert!(!c.id.is_empty()),
                _ => {}
            }
            Some(e)
        }
        Err(Error::InvalidRequest(detail)) => {
            assert!(!detail.is_empty(), "a refusal that does not say why");
            None
        }
        Err(other) => panic!("an event refused with {other:?}, not a 400"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(event)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let strict = parse(&event, true);
    let lenient = parse(&event, false);
    if let Some(s) = strict {
        let Some(l) = lenient else {
            panic!("the lenient parse refused what the strict one accepted");
        };
        assert_eq!(s.id, l.id);
        assert_eq!(s.source, l.source);
        assert_eq!(s.event_type, l.event_type);
        assert_eq!(s.time, l.time);
        assert_eq!(s.site, l.site);
        assert_eq!(s.kind, l.kind);
    }
});
