//! The four ways a CloudEvent arrives over HTTP, reduced to one form: a list of
//! JSON objects holding the event's attributes and `data`, as in structured mode.

use serde_json::{Map, Value};

use crate::domain::ReceiveMode;
use crate::Error;

/// Most events a batch may carry.
pub const MAX_BATCH: usize = 1000;

pub struct Envelope {
    pub mode: ReceiveMode,
    /// True when `specversion` and `source` must be present (all CloudEvents
    /// modes); plain JSON may leave them out.
    pub strict: bool,
    pub events: Vec<Map<String, Value>>,
    /// True when the one event is the whole body as sent (a structured or
    /// plain body that is not a Forge Remote wrapper).
    pub whole_body: bool,
}

/// A `Content-Type` split into its essence (lower-case) and a charset check.
fn media_type(content_type: &str) -> Result<String, Error> {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    for param in parts {
        if let Some((name, value)) = param.split_once('=') {
            let value = value.trim().trim_matches('"').to_ascii_lowercase();
            if name.trim().eq_ignore_ascii_case("charset") && value != "utf-8" && value != "utf8" {
                return Err(Error::UnsupportedMediaType(format!(
                    "charset {value} is not supported; send UTF-8"
                )));
            }
        }
    }
    Ok(essence)
}

fn parse_json(body: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("the body is not valid JSON: {e}")))
}

/// A Forge Remote delivery wraps the event: `{"event": {...}, "context": {...}}`.
/// The wrapper's context is kept on the event so lifecycle events keep their site.
/// Answers the event, and whether it was wrapped.
fn unwrap_forge(mut obj: Map<String, Value>) -> (Map<String, Value>, bool) {
    let is_wrapper = !obj.contains_key("type")
        && !obj.contains_key("eventType")
        && matches!(obj.get("event"), Some(Value::Object(_)));
    if !is_wrapper {
        return (obj, false);
    }
    let context = obj.remove("context");
    let Some(Value::Object(mut inner)) = obj.remove("event") else {
        return (obj, false);
    };
    if let Some(context) = context {
        inner.entry("context").or_insert(context);
    }
    (inner, true)
}

fn object(value: Value, what: &str) -> Result<Map<String, Value>, Error> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Error::invalid(format!(
            "{what} must be a JSON object, not {}",
            kind_of(&other)
        ))),
    }
}

pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A body holding one event, or a Forge Remote wrapper around one.
fn single(mode: ReceiveMode, strict: bool, body: Map<String, Value>) -> Envelope {
    let (event, wrapped) = unwrap_forge(body);
    Envelope {
        mode,
        strict,
        events: vec![event],
        whole_body: !wrapped,
    }
}

/// Splits the request into events. `ce_headers` are the request's `ce-*`
/// headers, names lower-case, values as sent (percent-encoded).
pub fn parse(
    content_type: Option<&str>,
    ce_headers: &[(String, String)],
    body: &[u8],
) -> Result<Envelope, Error> {
    let essence = content_type.map(media_type).transpose()?;
    let binary = ce_headers.iter().any(|(k, _)| k == "ce-specversion");
    match essence.as_deref() {
        Some("application/cloudevents+json") => Ok(single(
            ReceiveMode::Structured,
            true,
            object(parse_json(body)?, "a structured-mode body")?,
        )),
        Some("application/cloudevents-batch+json") => {
            let Value::Array(items) = parse_json(body)? else {
                return Err(Error::invalid(
                    "a batch-mode body must be a JSON array of events",
                ));
            };
            if items.is_empty() || items.len() > MAX_BATCH {
                return Err(Error::invalid(format!(
                    "a batch must hold 1 to {MAX_BATCH} events, not {}",
                    items.len()
                )));
            }
            let events = items
                .into_iter()
                .enumerate()
                .map(|(i, v)| object(v, &format!("batch element {i}")))
                .collect::<Result<_, _>>()?;
            Ok(Envelope {
                mode: ReceiveMode::Batch,
                strict: true,
                events,
                whole_body: false,
            })
        }
        Some("application/json") | None if binary => Ok(Envelope {
            mode: ReceiveMode::Binary,
            strict: true,
            events: vec![from_binary(ce_headers, body)?],
            whole_body: false,
        }),
        Some("application/json") => Ok(single(
            ReceiveMode::Plain,
            false,
            object(parse_json(body)?, "a JSON body")?,
        )),
        Some(other) => Err(Error::UnsupportedMediaType(format!(
            "content type {other} is not accepted; send application/cloudevents+json, \
             application/cloudevents-batch+json or application/json"
        ))),
        None => Err(Error::UnsupportedMediaType(
            "no Content-Type; send application/cloudevents+json, \
             application/cloudevents-batch+json or application/json"
                .into(),
        )),
    }
}

/// Binary mode: attributes in `ce-*` headers (percent-encoded per the HTTP
/// binding), the body is `data`.
fn from_binary(ce_headers: &[(String, String)], body: &[u8]) -> Result<Map<String, Value>, Error> {
    let mut event = Map::new();
    for (name, value) in ce_headers {
        let attr = &name["ce-".len()..];
        if attr.is_empty() {
            continue;
        }
        let decoded = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| {
                Error::invalid(format!("header {name} is not UTF-8 after percent-decoding"))
            })?;
        event.insert(attr.to_string(), Value::String(decoded.into_owned()));
    }
    if !body.iter().all(u8::is_ascii_whitespace) {
        event.insert("data".into(), parse_json(body)?);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_mode_from_headers() {
        let body = br#"{"specversion":"1.0","id":"1","source":"s","type":"t"}"#;
        let s = parse(
            Some("Application/CloudEvents+JSON; charset=UTF-8"),
            &[],
            body,
        )
        .unwrap();
        assert_eq!(s.mode, ReceiveMode::Structured);
        let p = parse(Some("application/json"), &[], body).unwrap();
        assert_eq!(p.mode, ReceiveMode::Plain);
        let ce = vec![
            ("ce-specversion".to_string(), "1.0".to_string()),
            (
                "ce-source".to_string(),
                "atlassian.com%2Fecosystem".to_string(),
            ),
        ];
        let b = parse(Some("application/json"), &ce, b"{}").unwrap();
        assert_eq!(b.mode, ReceiveMode::Binary);
        assert_eq!(b.events[0]["source"], "atlassian.com/ecosystem");
        assert!(matches!(
            parse(Some("text/plain"), &[], body),
            Err(Error::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            parse(None, &[], body),
            Err(Error::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            parse(Some("application/json; charset=latin1"), &[], body),
            Err(Error::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn unwraps_forge_deliveries_keeping_their_context() {
        let body = br#"{"event":{"eventType":"avi:forge:installed:app","id":"x"},"context":{"cloudId":"c"}}"#;
        let e = parse(Some("application/json"), &[], body).unwrap();
        assert_eq!(e.events[0]["eventType"], "avi:forge:installed:app");
        assert_eq!(e.events[0]["context"]["cloudId"], "c");
        assert!(!e.whole_body, "the event is a part of the body");
    }

    #[test]
    fn says_when_the_one_event_is_the_whole_body() {
        let body = br#"{"specversion":"1.0","id":"1","source":"s","type":"t"}"#;
        let whole = |ct: &str, ce: &[(String, String)], body: &[u8]| {
            parse(Some(ct), ce, body).unwrap().whole_body
        };
        assert!(whole("application/cloudevents+json", &[], body));
        assert!(whole("application/json", &[], body));
        let ce = [("ce-specversion".to_string(), "1.0".to_string())];
        assert!(
            !whole("application/json", &ce, b"{}"),
            "binary: the body is data"
        );
        let batch = br#"[{"specversion":"1.0","id":"1","source":"s","type":"t"}]"#;
        assert!(!whole("application/cloudevents-batch+json", &[], batch));
    }

    #[test]
    fn batches_are_bounded_arrays_of_objects() {
        let ct = Some("application/cloudevents-batch+json");
        assert!(parse(ct, &[], b"[]").is_err());
        assert!(parse(ct, &[], b"{}").is_err());
        assert!(parse(ct, &[], b"[1]").is_err());
        assert_eq!(parse(ct, &[], b"[{},{}]").unwrap().events.len(), 2);
    }
}
