//! The query-string hash of a request: method, path and raw query, one per
//! line. Canonicalisation must be total and stable.
#![no_main]

use aarc::ingest::auth::qsh;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let (method, path, query) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let canonical = qsh::canonical_request(method, path, query);
    assert_eq!(canonical, qsh::canonical_request(method, path, query));
    assert_eq!(qsh::qsh(method, path, query).len(), 64, "a SHA-256 in hex");
});
