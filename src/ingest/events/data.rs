//! The `data` of each known event type, and the site a lifecycle event names.

use serde_json::{Map, Value};

use super::json_at::{at_fault, not_a, At};
use super::{MAX_IDS, MAX_OBJECT_GROUPS};
use crate::domain::{CloudId, ContainerRef, EventKind, EventSite, ObjectRef, Product};
use crate::Error;

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

pub(super) fn v2_objects(data: &Value) -> Result<(EventSite, EventKind), Error> {
    let data = At::data(data)?;
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
                other => Err(not_a(&id_path(), "a string", other)),
            }?;
            objects.push(object);
        }
    }
    Ok((site, EventKind::ObjectsBlocked(objects)))
}

pub(super) fn v2_container(data: &Value) -> Result<(EventSite, EventKind), Error> {
    let data = At::data(data)?;
    let site = workspace_site(data)?;
    let (mut c, mut p, mut i) = (String::new(), String::new(), String::new());
    let container = data.field("container", &mut c)?;
    let product =
        Product::parse(container.field("product", &mut p)?.str()?).map_err(at_fault(&p))?;
    let id = container.field("id", &mut i)?.str()?;
    let container = ContainerRef::parse(product, id).map_err(at_fault(&i))?;
    Ok((site, EventKind::ContentBlockedInContainer(container)))
}

pub(super) fn v1_objects(data: &Value) -> Result<(EventSite, EventKind), Error> {
    let data = At::data(data)?;
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
pub(super) fn lifecycle_site(event: &Map<String, Value>) -> Result<EventSite, Error> {
    match event.get("context").and_then(|c| c.get("cloudId")) {
        None | Some(Value::Null) => Ok(EventSite::Unnamed),
        Some(Value::String(raw)) => Ok(EventSite::CloudId(
            CloudId::parse(raw).map_err(at_fault("context.cloudId"))?,
        )),
        Some(other) => Err(not_a("context.cloudId", "a string", other)),
    }
}
