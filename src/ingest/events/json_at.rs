//! Walking an event's JSON with the path that led to each value, so that a
//! refusal names the exact field at fault, and the U+0000 check.

use serde_json::{Map, Value};

use super::super::envelope::kind_of;
use crate::Error;

/// A JSON value and the path that led to it, for precise error messages.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub path: &'a str,
    pub value: &'a Value,
}

impl<'a> At<'a> {
    /// An event's `data`, which every known type requires.
    pub fn data(value: &'a Value) -> Result<At<'a>, Error> {
        if value.is_null() {
            return Err(Error::invalid("data is required"));
        }
        Ok(At {
            path: "data",
            value,
        })
    }

    pub fn field(self, name: &str, buf: &'a mut String) -> Result<At<'a>, Error> {
        let obj = self
            .value
            .as_object()
            .ok_or_else(|| not_a(self.path, "an object", self.value))?;
        *buf = format!("{}.{name}", self.path);
        let path: &'a str = buf;
        let value = obj
            .get(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| Error::invalid(format!("{path} is required")))?;
        Ok(At { path, value })
    }

    pub fn str(self) -> Result<&'a str, Error> {
        self.value
            .as_str()
            .ok_or_else(|| not_a(self.path, "a string", self.value))
    }

    pub fn array(self, max: usize) -> Result<&'a Vec<Value>, Error> {
        let items = self
            .value
            .as_array()
            .ok_or_else(|| not_a(self.path, "an array", self.value))?;
        if items.is_empty() || items.len() > max {
            return Err(Error::invalid(format!(
                "{} must hold 1 to {max} entries, not {}",
                self.path,
                items.len()
            )));
        }
        Ok(items)
    }
}

/// The refusal of `value` at `path`, which should have been `expected` ("a string").
pub(super) fn not_a(path: &str, expected: &str, value: &Value) -> Error {
    Error::invalid(format!("{path} must be {expected}, not {}", kind_of(value)))
}

pub(super) fn at_fault(path: &str) -> impl Fn(String) -> Error + '_ {
    move |msg| Error::invalid(format!("{path}: {msg}"))
}

/// Where in the event a key or string holds U+0000, as a dotted path. The
/// walk allocates nothing until it finds one: events carry up to 100,000 ids.
pub(super) fn nul_path(event: &Map<String, Value>) -> Option<String> {
    /// The path segments from the hit upwards, and whether the hit is a key.
    type Hit = (Vec<String>, bool);
    fn in_map(map: &Map<String, Value>) -> Option<Hit> {
        map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some((Vec::new(), true));
            }
            in_value(v).map(|(mut up, in_key)| {
                up.push(format!(".{k}"));
                (up, in_key)
            })
        })
    }
    fn in_value(v: &Value) -> Option<Hit> {
        match v {
            Value::String(s) if s.contains('\0') => Some((Vec::new(), false)),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                in_value(item).map(|(mut up, in_key)| {
                    up.push(format!("[{i}]"));
                    (up, in_key)
                })
            }),
            Value::Object(map) => in_map(map),
            _ => None,
        }
    }
    let (up, in_key) = in_map(event)?;
    let path: String = up.iter().rev().map(String::as_str).collect();
    let path = path.trim_start_matches('.');
    Some(match (in_key, path.is_empty()) {
        (true, true) => "a key in the event".to_string(),
        (true, false) => format!("a key in {path}"),
        (false, _) => path.to_string(),
    })
}
