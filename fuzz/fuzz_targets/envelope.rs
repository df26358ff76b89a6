//! A webhook body, read in every content mode aarc accepts (structured,
//! batch, plain JSON, binary with fixed `ce-*` headers); each event found is
//! parsed too. Refusals must be client errors, never internal ones.
#![no_main]

use aarc::ingest::{envelope, events};
use aarc::Error;
use libfuzzer_sys::fuzz_target;

const MODES: &[(&str, bool)] = &[
    ("application/cloudevents+json", false),
    ("application/cloudevents-batch+json", false),
    ("application/json", false),
    ("application/json", true),
];

fn binary_headers() -> Vec<(String, String)> {
    [
        ("ce-specversion", "1.0"),
        ("ce-id", "fuzz-1"),
        ("ce-source", "atlassian.com%2Fecosystem"),
        (
            "ce-type",
            "avi:ecosystem.app_policy:blocked:app_access_to_objects.v2",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn client_error(e: &Error) {
    assert!(
        !matches!(e, Error::Internal(_) | Error::Unavailable(_)),
        "{e:?}"
    );
}

fuzz_target!(|body: &[u8]| {
    for (content_type, binary) in MODES {
        let headers = if *binary {
            binary_headers()
        } else {
            Vec::new()
        };
        match envelope::parse(Some(content_type), &headers, body) {
            Ok(found) => {
                for event in found.events {
                    match events::parse(event, found.strict) {
                        Ok(e) => assert!(!e.id.is_empty(), "an event without an id"),
                        Err(e) => client_error(&e),
                    }
                }
            }
            Err(e) => client_error(&e),
        }
    }
});
