//! Event attributes and `data` of each known type, checked field by field so
//! that a refusal names the exact field at fault.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::envelope::kind_of;
use crate::domain::{CloudId, ContainerRef, EventKind, EventSite, ObjectRef, PolicyEvent, Product};
use crate::Error;

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

/// A JSON value and the path that led to it, for precise error messages.
#[derive(Clone, Copy)]
struct At<'a> {
    path: &'a str,
    value: &'a Value,
}

impl<'a> At<'a> {
    fn field(self, name: &str, buf: &'a mut String) -> Result<At<'a>, Error> {
        let obj = self.value.as_object().ok_or_else(|| {
            Error::invalid(format!(
                "{} must be an object, not {}",
                self.path,
                kind_of(self.value)
            ))
        })?;
        *buf = format!("{}.{name}", self.path);
        let path: &'a str = buf;
        let value = obj
            .get(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| Error::invalid(format!("{path} is required")))?;
        Ok(At { path, value })
    }

    fn str(self) -> Result<&'a str, Error> {
        self.value
            .as_str()
            .ok_or_else(|| not_a_string(self.path, self.value))
    }

    fn array(self, max: usize) -> Result<&'a Vec<Value>, Error> {
        let items = self.value.as_array().ok_or_else(|| {
            Error::invalid(format!(
                "{} must be an array, not {}",
                self.path,
                kind_of(self.value)
            ))
        })?;
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

fn not_a_string(path: &str, value: &Value) -> Error {
    Error::invalid(format!("{path} must be a string, not {}", kind_of(value)))
}

fn at_fault(path: &str) -> impl Fn(String) -> Error + '_ {
    move |msg| Error::invalid(format!("{path}: {msg}"))
}

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

/// Where in the event a key or string holds U+0000, as a dotted path. The
/// walk allocates nothing until it finds one: events carry up to 100,000 ids.
fn nul_path(event: &Map<String, Value>) -> Option<String> {
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

/// Turns one event object into a `PolicyEvent`. `strict` demands the
/// CloudEvents attributes that plain JSON may leave out.
pub fn parse(mut event: Map<String, Value>, strict: bool) -> Result<PolicyEvent, Error> {
    if let Some(path) = nul_path(&event) {
        // PostgreSQL can store U+0000 in neither text nor jsonb.
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
    event
        .entry("id")
        .or_insert_with(|| Value::String(id.clone()));
    event
        .entry("source")
        .or_insert_with(|| Value::String(source.clone()));
    event
        .entry("type")
        .or_insert_with(|| Value::String(event_type.clone()));
    Ok(PolicyEvent {
        id,
        source,
        event_type,
        time,
        site,
        kind,
        // Written out here, on the request's own task, rather than by the
        // writer while the group waits.
        raw: Value::Object(event).to_string(),
    })
}

fn workspace_site(data: At<'_>) -> Result<EventSite, Error> {
    let (mut a, mut b) = (String::new(), String::new());
    let raw = data
        .field("workspace", &mut a)?
        .field("cloudId", &mut b)?
        .str()?;
    Ok(EventSite::CloudId(
        CloudId::parse(raw).map_err(at_fault("data.workspace.cloudId"))?,
    ))
}

fn v2_objects(data: &Value) -> Result<(EventSite, EventKind), Error> {
    let data = At {
        path: "data",
        value: data,
    };
    if data.value.is_null() {
        return Err(Error::invalid("data is required"));
    }
    let site = workspace_site(data)?;
    let mut buf = String::new();
    let groups = data.field("objects", &mut buf)?.array(MAX_OBJECT_GROUPS)?;
    let mut objects = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        let path = format!("data.objects[{i}]");
        let group = At {
            path: &path,
            value: group,
        };
        let (mut p, mut t, mut d) = (String::new(), String::new(), String::new());
        let product =
            Product::parse(group.field("product", &mut p)?.str()?).map_err(at_fault(&p))?;
        let object_type = group.field("type", &mut t)?.str()?.to_string();
        let ids_at = group.field("ids", &mut d)?;
        let ids = ids_at.array(MAX_IDS)?;
        objects.reserve(ids.len());
        for (j, id) in ids.iter().enumerate() {
            // The id's path is only spelled out for an error: formatting it
            // for each of 10,000 valid ids cost more than parsing them.
            let id_path = || format!("{}[{j}]", ids_at.path);
            let object = match id {
                Value::String(id) => ObjectRef::parse(product.clone(), &object_type, id)
                    .map_err(|msg| at_fault(&id_path())(msg)),
                other => Err(not_a_string(&id_path(), other)),
            }?;
            objects.push(object);
        }
    }
    Ok((site, EventKind::ObjectsBlocked(objects)))
}

fn v2_container(data: &Value) -> Result<(EventSite, EventKind), Error> {
    let data = At {
        path: "data",
        value: data,
    };
    if data.value.is_null() {
        return Err(Error::invalid("data is required"));
    }
    let site = workspace_site(data)?;
    let (mut c, mut p, mut i) = (String::new(), String::new(), String::new());
    let container = data.field("container", &mut c)?;
    let product =
        Product::parse(container.field("product", &mut p)?.str()?).map_err(at_fault(&p))?;
    let id = container.field("id", &mut i)?.str()?;
    let container = ContainerRef::parse(product, id).map_err(at_fault(&i))?;
    Ok((site, EventKind::ContentBlockedInContainer(container)))
}

fn v1_objects(data: &Value) -> Result<(EventSite, EventKind), Error> {
    let data = At {
        path: "data",
        value: data,
    };
    if data.value.is_null() {
        return Err(Error::invalid("data is required"));
    }
    let (mut s, mut u, mut o) = (String::new(), String::new(), String::new());
    let raw_url = data.field("site", &mut s)?.field("url", &mut u)?.str()?;
    let url = url::Url::parse(raw_url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
        .ok_or_else(|| {
            Error::invalid(format!("data.site.url {raw_url:?} is not an http(s) URL"))
        })?;
    let items = data.field("blockedObjects", &mut o)?.array(MAX_IDS)?;
    let mut objects = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("data.blockedObjects[{i}]");
        let item = At {
            path: &path,
            value: item,
        };
        let (mut t, mut d, mut p) = (String::new(), String::new(), String::new());
        let object_type = item.field("type", &mut t)?.str()?;
        let id = item.field("id", &mut d)?.str()?;
        // v1 carries no product; an explicit one is honoured if present.
        let product = match item.field("product", &mut p) {
            Ok(v) => Product::parse(v.str()?).map_err(at_fault(&p))?,
            Err(_) => Product::infer_from_type(object_type),
        };
        objects.push(ObjectRef::parse(product, object_type, id).map_err(at_fault(&path))?);
    }
    Ok((EventSite::Url(url), EventKind::ObjectsBlocked(objects)))
}

/// Forge lifecycle events name their site in `context.cloudId`, if at all.
fn lifecycle_site(event: &Map<String, Value>) -> Result<EventSite, Error> {
    match event.get("context").and_then(|c| c.get("cloudId")) {
        None | Some(Value::Null) => Ok(EventSite::Unnamed),
        Some(Value::String(raw)) => Ok(EventSite::CloudId(
            CloudId::parse(raw).map_err(at_fault("context.cloudId"))?,
        )),
        Some(other) => Err(Error::invalid(format!(
            "context.cloudId must be a string, not {}",
            kind_of(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_value(v: Value, strict: bool) -> Result<PolicyEvent, Error> {
        parse(v.as_object().unwrap().clone(), strict)
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
