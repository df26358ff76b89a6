//! A whole webhook request as `POST /webhooks/atlassian` hands it to the
//! ingest code: the `Content-Type`, the `ce-*` headers and the body, then
//! every event the envelope yields, parsed as `ingest::receive` does.
//!
//! The input is written like the head of an HTTP request:
//!
//! ```text
//! <Content-Type value>          (an empty first line: no Content-Type)
//! ce-name: value                (zero or more header lines)
//!                               (an empty line)
//! <body>
//! ```
//!
//! Header lines the HTTP layer would refuse before aarc sees them (values
//! that are not visible ASCII, names that are not tokens) end the run, and
//! only `ce-*` headers are passed on, as `http::webhook` does.
#![no_main]

use aarc::domain::{EventKind, ReceiveMode};
use aarc::ingest::{envelope, events};
use aarc::Error;
use libfuzzer_sys::fuzz_target;

/// What `HeaderValue::to_str` accepts.
fn visible_ascii(s: &[u8]) -> bool {
    s.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// An HTTP header name (RFC 9110 token).
fn token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

struct Request<'a> {
    content_type: Option<&'a str>,
    ce_headers: Vec<(String, String)>,
    body: &'a [u8],
}

/// Splits the input as described above; `None` when the HTTP layer would
/// have refused the request.
fn split(data: &[u8]) -> Option<Request<'_>> {
    let (first, mut rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    // `header_str` in http::webhook reads a value that is not visible ASCII
    // as no header at all.
    let content_type = if first.is_empty() || !visible_ascii(first) {
        None
    } else {
        std::str::from_utf8(first)
            .ok()
            .map(|s| s.trim_matches([' ', '\t']))
    };
    let mut ce_headers = Vec::new();
    loop {
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = after;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if !token(name) || !visible_ascii(value) {
            return None;
        }
        let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        let value = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
        if name.starts_with("ce-") {
            ce_headers.push((name, value.to_string()));
        }
    }
    Some(Request {
        content_type,
        ce_headers,
        body: rest,
    })
}

fn client_error(e: &Error) -> bool {
    matches!(e, Error::InvalidRequest(_) | Error::UnsupportedMediaType(_))
}

fuzz_target!(|data: &[u8]| {
    let Some(req) = split(data) else {
        return;
    };
    let found = match envelope::parse(req.content_type, &req.ce_headers, req.body) {
        Ok(found) => found,
        Err(e) => {
            assert!(client_error(&e), "the envelope refused with {e:?}");
            return;
        }
    };
    let binary = req.ce_headers.iter().any(|(k, _)| k == "ce-specversion");
    assert_eq!(found.strict, found.mode != ReceiveMode::Plain);
    assert!(
        found.mode != ReceiveMode::Binary || binary,
        "binary mode without ce-specversion"
    );
    match found.mode {
        ReceiveMode::Batch => assert!((1..=envelope::MAX_BATCH).contains(&found.events.len())),
        _ => assert_eq!(found.events.len(), 1),
    }
    for event in found.events {
        match events::parse(event, found.strict) {
            Ok(e) => {
                assert!(!e.id.is_empty() && !e.source.is_empty() && !e.event_type.is_empty());
                if let EventKind::ObjectsBlocked(objects) = &e.kind {
                    assert!(!objects.is_empty(), "a block event without objects");
                }
            }
            Err(e) => assert!(
                matches!(e, Error::InvalidRequest(_)),
                "an event refused with {e:?}"
            ),
        }
    }
});
