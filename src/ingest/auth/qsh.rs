//! Atlassian Connect's query string hash: the SHA-256 of a canonical form of
//! the request (`METHOD&path&sorted-query`), which binds a JWT to one request.
//! Shared by the receiver (checking) and the verification client (signing).

use sha2::{Digest, Sha256};

/// Bytes that stay as they are; everything else is percent-encoded (RFC 3986
/// unreserved set; note that a space becomes `%20`, never `+`).
fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Form decoding, as Atlassian does it: `+` is a space, then percent-decoding.
fn decode(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

fn canonical_path(path: &str) -> String {
    // Leading and trailing slashes do not count: "", "/" and "//a/" are "/" and "/a".
    format!("/{}", path.trim_matches('/')).replace('&', "%26")
}

/// The canonical query: `jwt` left out, keys sorted (encoded), repeated keys'
/// values sorted (by their decoded form, as Atlassian's reference code does)
/// and joined with commas, everything percent-encoded.
fn canonical_query(query: &str) -> String {
    let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k);
        if key == "jwt" {
            continue;
        }
        params.entry(encode(&key)).or_default().push(decode(v));
    }
    params
        .into_iter()
        .map(|(k, mut values)| {
            values.sort();
            let encoded: Vec<String> = values.iter().map(|v| encode(v)).collect();
            format!("{k}={}", encoded.join(","))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `METHOD&canonical-path&canonical-query`.
pub fn canonical_request(method: &str, path: &str, query: &str) -> String {
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        canonical_path(path),
        canonical_query(query)
    )
}

/// The hex SHA-256 of the canonical request: the `qsh` claim.
pub fn qsh(method: &str, path: &str, query: &str) -> String {
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some(known) = last.as_ref().filter(|l| l.is(method, path, query)) {
            return known.qsh.clone();
        }
        let qsh = hex::encode(Sha256::digest(
            canonical_request(method, path, query).as_bytes(),
        ));
        *last = Some(LastRequest {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            qsh: qsh.clone(),
        });
        qsh
    })
}

/// A request and its qsh.
struct LastRequest {
    method: String,
    path: String,
    query: String,
    qsh: String,
}

impl LastRequest {
    fn is(&self, method: &str, path: &str, query: &str) -> bool {
        self.method == method && self.path == path && self.query == query
    }
}

thread_local! {
    /// The last qsh worked out on this thread. A receiver checks one route
    /// over and over, and building its canonical form and hashing it again
    /// for every webhook was a fortieth of aarc's CPU per request.
    static LAST: std::cell::RefCell<Option<LastRequest>> = const { std::cell::RefCell::new(None) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_query_ends_with_ampersand() {
        assert_eq!(
            canonical_request("post", "/webhooks/atlassian", ""),
            "POST&/webhooks/atlassian&"
        );
    }

    #[test]
    fn jwt_is_excluded_and_values_sorted() {
        assert_eq!(
            canonical_query("jwt=abc&b=2&a=z&a=y"),
            "a=y,z&b=2".to_string()
        );
    }

    #[test]
    fn each_request_gets_its_own_hash_however_often_one_repeats() {
        let fresh = |m: &str, p: &str, q: &str| {
            hex::encode(Sha256::digest(canonical_request(m, p, q).as_bytes()))
        };
        for (m, p, q) in [
            ("POST", "/a", ""),
            ("POST", "/a", ""),
            ("POST", "/b", ""),
            ("GET", "/b", ""),
            ("GET", "/b", "x=1"),
            ("POST", "/a", ""),
        ] {
            assert_eq!(qsh(m, p, q), fresh(m, p, q), "{m} {p}?{q}");
        }
    }
}
