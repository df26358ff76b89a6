//! Event attributes and `data` of each known type, checked field by field so
//! that a refusal names the exact field at fault.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::envelope::kind_of;
use crate::domain::{EventKind, EventSite, PolicyEvent};
use crate::Error;

mod data;
mod json_at;

use data::{lifecycle_site, v1_objects, v2_container, v2_objects};
use json_at::nul_path;

pub const V2_OBJECTS: &str = "avi:ecosystem.app_policy:blocked:app_access_to_objects.v2";
pub const V2_CONTAINER: &str =
    "avi:ecosystem.app_policy:blocked:app_access_to_objects_in_container.v2";
pub const V1_OBJECTS: &str = "avi:ecosystem.app_policy:blocked:app_access_to_objects.v1";
pub const FORGE_INSTALLED: &str = "avi:forge:installed:app";
pub const FORGE_UNINSTALLED: &str = "avi:forge:uninstalled:app";

const V2_SOURCE: &str = "atlassian.com/ecosystem";
const V1_SOURCE: &str = "com.atlassian/ecosystem.app_policy";
const MAX_OBJECT_GROUPS: usize = 1000;
const MAX_IDS: usize = 100_000;

/// A required, non-empty string attribute of at most `max` characters.
fn attribute(event: &Map<String, Value>, name: &str, max: usize) -> Result<Option<String>, Error> {
    match event.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(Error::invalid(format!(
            "attribute {name} must be 1 to {max} characters"
        ))),
        Some(other) => Err(Error::invalid(format!(
            "attribute {name} must be a string, not {}",
            kind_of(other)
        ))),
    }
}

/// Turns one event object into a `PolicyEvent`. `strict` demands the
/// CloudEvents attributes that plain JSON may leave out.
pub fn parse(event: Map<String, Value>, strict: bool) -> Result<PolicyEvent, Error> {
    parse_as_sent(event, strict, None)
}

/// `parse` for an event that was the whole request body, `sent`: unless an
/// attribute had to be filled in, that text is kept as the event's raw form
/// rather than the parsed object written out again (a tenth of the
/// webhook's parsing work). The inbox stores the raw form as text that
/// PostgreSQL must be able to read as `jsonb`: numbers with a fraction or
/// exponent, which serde_json reads as an f64 that may not be the text sent
/// (`1e-20000` reads as 0, while PostgreSQL refuses it), make an event
/// written out as read instead.
pub fn parse_as_sent(
    mut event: Map<String, Value>,
    strict: bool,
    sent: Option<&str>,
) -> Result<PolicyEvent, Error> {
    if let Some(path) = nul_path(&event) {
        // jsonb refuses U+0000 (every stored event must read as jsonb), and
        // written out as read it would be a character text cannot hold.
        return Err(Error::invalid(format!(
            "{path} contains the character U+0000, which cannot be stored"
        )));
    }
    match event.get("specversion") {
        None if !strict => {}
        None => return Err(Error::invalid("attribute specversion is required")),
        Some(Value::String(v)) if v == "1.0" => {}
        Some(other) => {
            return Err(Error::invalid(format!(
                "attribute specversion must be the string \"1.0\", not {other}"
            )))
        }
    }
    let event_type = match attribute(&event, "type", 256)? {
        Some(t) => t,
        None if !strict => attribute(&event, "eventType", 256)?
            .ok_or_else(|| Error::invalid("attribute type (or eventType) is required"))?,
        None => return Err(Error::invalid("attribute type is required")),
    };
    let lifecycle = event_type == FORGE_INSTALLED || event_type == FORGE_UNINSTALLED;
    let id = match attribute(&event, "id", 256)? {
        Some(id) => id,
        // Forge lifecycle deliveries may carry no id: one is derived from the
        // content, so a redelivery of the same body is still a duplicate.
        None if lifecycle => {
            use sha2::Digest;
            let bytes = serde_json::to_vec(&event).unwrap_or_default();
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
        }
        None => return Err(Error::invalid("attribute id is required")),
    };
    let source = match attribute(&event, "source", 1024)? {
        Some(s) => s,
        None if strict => return Err(Error::invalid("attribute source is required")),
        None if lifecycle => "forge".to_string(),
        None if event_type == V1_OBJECTS => V1_SOURCE.to_string(),
        None => V2_SOURCE.to_string(),
    };
    let time = match attribute(&event, "time", 64)? {
        None => None,
        Some(t) => Some(
            DateTime::parse_from_rfc3339(&t)
                .map_err(|_| {
                    Error::invalid(format!("attribute time {t:?} is not an RFC 3339 timestamp"))
                })?
                .with_timezone(&Utc),
        ),
    };
    // Borrowed, not cloned: a large event's data is 10,000 strings.
    let data = event.get("data").unwrap_or(&Value::Null);
    let (site, kind) = match event_type.as_str() {
        V2_OBJECTS => v2_objects(data)?,
        V2_CONTAINER => v2_container(data)?,
        V1_OBJECTS => v1_objects(data)?,
        FORGE_INSTALLED => (lifecycle_site(&event)?, EventKind::ForgeInstalled),
        FORGE_UNINSTALLED => (lifecycle_site(&event)?, EventKind::ForgeUninstalled),
        _ => (EventSite::Unnamed, EventKind::Unknown),
    };
    // Plain JSON is stored in its CloudEvents form, so replays see one shape.
    let mut filled_in = false;
    for (name, value) in [("id", &id), ("source", &source), ("type", &event_type)] {
        if !event.contains_key(name) {
            event.insert(name.to_string(), Value::String(value.clone()));
            filled_in = true;
        }
    }
    // Written out here, on the request's own task, rather than by the
    // writer while the group waits.
    let raw = match sent {
        Some(text) if !filled_in && !holds_a_float(&event) => text.to_string(),
        _ => Value::Object(event).to_string(),
    };
    Ok(PolicyEvent {
        id,
        source,
        event_type,
        time,
        site,
        kind,
        raw,
    })
}

/// Whether any number in the event was read as an f64.
fn holds_a_float(event: &Map<String, Value>) -> bool {
    fn float_in(v: &Value) -> bool {
        match v {
            Value::Number(n) => n.is_f64(),
            Value::Array(items) => items.iter().any(float_in),
            Value::Object(map) => map.values().any(float_in),
            _ => false,
        }
    }
    event.values().any(float_in)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CloudId;
    use serde_json::json;

    fn parse_value(v: Value, strict: bool) -> Result<PolicyEvent, Error> {
        parse(v.as_object().unwrap().clone(), strict)
    }

    #[test]
    fn keeps_the_text_as_sent_unless_an_attribute_is_filled_in() {
        // Spacing and key order as sent: the text is kept, not rewritten.
        let sent = r#"{ "type": "custom", "specversion": "1.0", "source": "s", "id": "1" }"#;
        let object = || serde_json::from_str::<Map<String, Value>>(sent).unwrap();
        let kept = parse_as_sent(object(), true, Some(sent)).unwrap();
        assert_eq!(kept.raw, sent);
        // Plain JSON without a source gets one: the stored form says so.
        let plain = r#"{"type": "custom", "id": "1"}"#;
        let object = serde_json::from_str::<Map<String, Value>>(plain).unwrap();
        let filled = parse_as_sent(object, false, Some(plain)).unwrap();
        let stored: Value = serde_json::from_str(&filled.raw).unwrap();
        assert_eq!(stored["source"], V2_SOURCE);
        assert_eq!(stored["id"], "1");
        // A number serde_json reads as another (here 0) is written out as
        // read, so PostgreSQL stores what was checked and never refuses it.
        let tiny = r#"{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"n":1e-20000,"k":[7]}}"#;
        let object = serde_json::from_str::<Map<String, Value>>(tiny).unwrap();
        let written = parse_as_sent(object, true, Some(tiny)).unwrap();
        let stored: Value = serde_json::from_str(&written.raw).unwrap();
        assert_ne!(written.raw, tiny);
        assert_eq!(stored["data"]["n"], 0.0);
        assert_eq!(stored["data"]["k"], json!([7]));
    }

    fn detail(r: Result<PolicyEvent, Error>) -> String {
        match r {
            Err(Error::InvalidRequest(d)) => d,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_id_is_refused_with_its_place() {
        let event = |ids: Value| {
            json!({"specversion":"1.0","id":"1","source":"s","type":V2_OBJECTS,
            "data":{"workspace":{"cloudId":"c1"},"objects":[
                {"product":"confluence","type":"page","ids":["ok"]},
                {"product":"confluence","type":"page","ids":ids}]}})
        };
        let not_a_string = detail(parse_value(event(json!(["1", 2])), true));
        assert!(
            not_a_string.starts_with("data.objects[1].ids[1] must be a string, not "),
            "{not_a_string}"
        );
        let control = detail(parse_value(event(json!(["1", "2", "a\tb"])), true));
        assert!(
            control.starts_with("data.objects[1].ids[2]: object id "),
            "{control}"
        );
    }

    #[test]
    fn a_nul_character_anywhere_is_refused_with_its_place() {
        let event = |ids: Value| {
            json!({"specversion":"1.0","id":"1","source":"s","type":V2_OBJECTS,
            "data":{"workspace":{"cloudId":"c1"},"objects":[
                {"product":"confluence","type":"page","ids":ids}]}})
        };
        assert_eq!(
            detail(parse_value(event(json!(["1", "a\u{0}b"])), true)),
            "data.objects[0].ids[1] contains the character U+0000, which cannot be stored"
        );
        let mut with_key = event(json!(["1"]));
        with_key["data"]["x\u{0}"] = json!(1);
        assert!(detail(parse_value(with_key, true)).starts_with("a key in data contains"));
        assert!(parse_value(event(json!(["1"])), true).is_ok());
    }

    #[test]
    fn v2_objects_are_flattened_and_lower_cased() {
        let e = parse_value(
            json!({"specversion":"1.0","id":"1","source":"s","type":V2_OBJECTS,
            "data":{"workspace":{"cloudId":"c1"},"objects":[
                {"product":"Confluence","type":"page","ids":["1","2"]},
                {"product":"jira","type":"issue","ids":["3"]}]}}),
            true,
        )
        .unwrap();
        let EventKind::ObjectsBlocked(objects) = e.kind else {
            panic!()
        };
        assert_eq!(objects.len(), 3);
        assert_eq!(objects[0].product.as_str(), "confluence");
        assert_eq!(e.site, EventSite::CloudId(CloudId::parse("c1").unwrap()));
    }

    #[test]
    fn v1_infers_products_and_plain_json_gets_defaults() {
        let e = parse_value(
            json!({"id":"9","type":V1_OBJECTS,
            "data":{"site":{"url":"https://x.atlassian.net"},
                    "blockedObjects":[{"type":"issue","id":"10"},{"type":"thing","id":"11"}]}}),
            false,
        )
        .unwrap();
        assert_eq!(e.source, V1_SOURCE);
        let EventKind::ObjectsBlocked(objects) = e.kind else {
            panic!()
        };
        assert_eq!(objects[0].product.as_str(), "jira");
        assert_eq!(objects[1].product.as_str(), "unknown");
        let raw: Value = serde_json::from_str(&e.raw).unwrap();
        assert_eq!(raw["source"], V1_SOURCE);
    }

    #[test]
    fn refusals_name_the_field() {
        let base = |data: Value| json!({"specversion":"1.0","id":"1","source":"s","type":V2_OBJECTS,"data":data});
        let d = detail(parse_value(
            base(
                json!({"workspace":{"cloudId":"c"},"objects":[{"product":"jira","type":"issue","ids":[5]}]}),
            ),
            true,
        ));
        assert!(d.contains("data.objects[0].ids[0]"), "{d}");
        let d = detail(parse_value(
            base(json!({"workspace":{"cloudId":"c"},"objects":[]})),
            true,
        ));
        assert!(d.contains("data.objects must hold"), "{d}");
        let d = detail(parse_value(base(json!({"objects":[]})), true));
        assert!(d.contains("data.workspace is required"), "{d}");
        let d = detail(parse_value(json!({"id":"1","source":"s","type":"t"}), true));
        assert!(d.contains("specversion"), "{d}");
        let d = detail(parse_value(
            json!({"specversion":1.0,"id":"1","source":"s","type":"t"}),
            true,
        ));
        assert!(d.contains("specversion"), "{d}");
        let d = detail(parse_value(
            json!({"specversion":"1.0","id":"1","source":"s","type":"t","time":"yesterday"}),
            true,
        ));
        assert!(d.contains("time"), "{d}");
    }

    #[test]
    fn container_events_never_become_object_blocks() {
        let e = parse_value(
            json!({"specversion":"1.0","id":"1","source":"s","type":V2_CONTAINER,
            "data":{"workspace":{"cloudId":"c"},"container":{"product":"JIRA","id":"10001"}}}),
            true,
        )
        .unwrap();
        assert!(
            matches!(e.kind, EventKind::ContentBlockedInContainer(ref c) if c.product.as_str() == "jira")
        );
    }

    #[test]
    fn unknown_types_are_kept_without_data_checks() {
        let e = parse_value(
            json!({"specversion":"1.0","id":"1","source":"s","type":"avi:new:thing.v9","data":42}),
            true,
        )
        .unwrap();
        assert!(e.is_ignored());
    }
}
