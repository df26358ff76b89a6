//! A `cursor` query parameter of the blocked-object lists.
#![no_main]

use aarc::http::status::decode_cursor;
use aarc::Error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = decode_cursor(raw) {
        assert!(matches!(e, Error::InvalidRequest(_)), "{e:?}");
    }
});
