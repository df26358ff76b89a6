//! The `cursor` query parameter of `GET /v1/sites/{cloudId}/blocks`, as the
//! query extractor hands it over (percent-decoded, invalid UTF-8 replaced).
//!
//! Checked: a refusal is a 400; an accepted cursor names a valid object, and
//! the cursor aarc would issue for that object reads back as the same one.
#![no_main]

use aarc::http::status::decode_cursor;
use aarc::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    match decode_cursor(&raw) {
        Ok(object) => {
            assert!(!object.product.as_str().is_empty());
            assert!(!object.object_type.is_empty() && !object.id.is_empty());
            // The form `encode_cursor` in http::status writes.
            let again = serde_json::json!([object.product.as_str(), object.object_type, object.id]);
            match decode_cursor(&URL_SAFE_NO_PAD.encode(again.to_string())) {
                Ok(back) => assert_eq!(back, object, "a cursor does not read back"),
                Err(e) => panic!("a cursor aarc would issue is refused: {e:?}"),
            }
        }
        Err(e) => assert!(matches!(e, Error::InvalidRequest(_)), "{e:?}"),
    }
});
