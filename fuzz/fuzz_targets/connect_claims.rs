//! The claims of a Connect JWT that carries a good signature: the input is
//! the payload (any bytes), which the harness signs with HS256 and the
//! tenant's secret, so that the fuzzer works on what is checked after the
//! signature (`exp`, `iss`, `qsh`) instead of on the signature itself.
//!
//! Checked: a refusal is a 401; an accepted token has an `iss` and a `qsh`
//! claim that is the hash of this very request, and has not expired (60 s
//! of leeway).
#![no_main]

use aarc::ingest::auth::{connect, qsh};
use aarc::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use serde_json::Value;

const SECRET: &str = "fuzz-shared-secret";
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
const METHOD: &str = "POST";
const PATH: &str = "/webhooks/atlassian";

fn sign(payload: &[u8]) -> Option<String> {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).ok()?;
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Some(format!("{signing_input}.{signature}"))
}

fn unauthorized(e: &Error) -> bool {
    matches!(e, Error::Unauthorized(d) if !d.is_empty())
}

fuzz_target!(|payload: &[u8]| {
    // The query is whatever follows the path: the tail of the input after a
    // NUL byte, if any (a NUL cannot occur in a query string).
    let (payload, query) = match payload.iter().position(|&b| b == 0) {
        Some(i) => (&payload[..i], String::from_utf8_lossy(&payload[i + 1..])),
        None => (payload, "".into()),
    };
    let Some(token) = sign(payload) else {
        return;
    };
    if let Err(e) = connect::unverified_issuer(&token) {
        assert!(unauthorized(&e), "{e:?}");
        return;
    }
    let secret = SecretString::from(SECRET);
    if let Err(e) = connect::verify(&token, &secret, METHOD, PATH, &query) {
        assert!(unauthorized(&e), "{e:?}");
        return;
    }
    // Accepted: the claims must say what the verification relied on.
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(payload) else {
        panic!("a token whose payload is not a JSON object was accepted");
    };
    let expected = qsh::qsh(METHOD, PATH, &query);
    let claimed = claims.get("qsh").and_then(Value::as_str);
    assert!(
        claimed.is_some_and(|c| c.eq_ignore_ascii_case(&expected)),
        "accepted with qsh {claimed:?}, expected {expected}"
    );
    let iss = claims.get("iss").and_then(Value::as_str);
    assert!(
        iss.is_some_and(|i| !i.is_empty()),
        "accepted with iss {iss:?}"
    );
    let exp = claims.get("exp").and_then(Value::as_f64);
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(
        exp.is_some_and(|e| e >= now - 65.0),
        "accepted with exp {exp:?} at {now}"
    );
});
