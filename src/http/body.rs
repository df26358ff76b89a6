//! Request bodies read whole, refused as soon as they pass the limit (with
//! or without a `Content-Length`), and JSON bodies parsed with an error that
//! shows the shape expected.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::Error;

/// Reads the whole body, refusing it as soon as it passes `limit` bytes.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, Error> {
    let too_large = || Error::PayloadTooLarge(format!("the body is larger than {limit} bytes"));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Error::invalid(format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses a JSON body; a body that does not parse is refused with the
/// `shape` it should have had and serde's reason (line, column, field).
pub fn json<'a, T: Deserialize<'a>>(body: &'a [u8], shape: &str) -> Result<T, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("the body must be {shape}: {e}")))
}
