//! A Connect JWT as it arrives in `Authorization: JWT …`: its issuer read
//! unverified, then verified against a secret. Any refusal is a 401.
#![no_main]

use aarc::ingest::auth::connect;
use aarc::Error;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = connect::unverified_issuer(token) {
        assert!(matches!(e, Error::Unauthorized(_)), "{e:?}");
    }
    let secret = SecretString::from("fuzz-shared-secret");
    if let Err(e) = connect::verify(token, &secret, "POST", "/webhooks/atlassian", "") {
        assert!(matches!(e, Error::Unauthorized(_)), "{e:?}");
    }
});
