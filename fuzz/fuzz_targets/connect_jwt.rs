//! A Connect JWT as it arrives, in `Authorization: JWT …` or in the `jwt`
//! query parameter (percent-decoded, invalid UTF-8 replaced, hence the lossy
//! conversion). The receiver first reads `iss` without checking anything,
//! to find the tenant, then verifies the token with that tenant's secret
//! for this request. Any refusal must be a 401.
//!
//! The seeds are signed with `SECRET`, so unmutated ones get past the
//! signature; `connect_claims` explores what lies behind it.
#![no_main]

use aarc::ingest::auth::connect;
use aarc::Error;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

const SECRET: &str = "fuzz-shared-secret";

fn unauthorized(e: &Error) -> bool {
    matches!(e, Error::Unauthorized(d) if !d.is_empty())
}

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let token = token.trim();
    match connect::unverified_issuer(token) {
        Ok(iss) => assert!(!iss.is_empty(), "an empty issuer"),
        Err(e) => {
            assert!(unauthorized(&e), "{e:?}");
            return;
        }
    }
    let secret = SecretString::from(SECRET);
    if let Err(e) = connect::verify(token, &secret, "POST", "/webhooks/atlassian", "") {
        assert!(unauthorized(&e), "{e:?}");
    }
});
