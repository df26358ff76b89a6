//! The query string hash a Connect JWT is bound to, computed from the
//! request's method, path and raw query. The input holds the three parts,
//! one per line (a missing part is empty; the query may span lines).
//!
//! Checked: the hash is 64 lower-case hex digits; the canonical form starts
//! with the upper-cased method; neither the order of the query's parameters
//! nor an added `jwt` parameter changes it.
#![no_main]

use aarc::ingest::auth::qsh;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let query = parts.next().unwrap_or_default();

    let canonical = qsh::canonical_request(method, path, query);
    assert!(
        canonical.starts_with(&format!("{}&/", method.to_ascii_uppercase())),
        "{canonical:?}"
    );
    let hash = qsh::qsh(method, path, query);
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{hash:?}"
    );

    let reversed: Vec<&str> = query.split('&').rev().collect();
    assert_eq!(
        canonical,
        qsh::canonical_request(method, path, &reversed.join("&")),
        "the order of the parameters changed the canonical request"
    );
    assert_eq!(
        canonical,
        qsh::canonical_request(method, path, &format!("{query}&jwt=a.b.c")),
        "a jwt parameter changed the canonical request"
    );
});
