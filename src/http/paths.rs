//! What a route's path names, parsed at the boundary: a site, an object. A
//! path that names neither well is refused (400) with the parser's reason.

use actix_web::web;

use crate::domain::{CloudId, ObjectRef};
use crate::Error;

/// The site a `{cloudId}` segment names.
pub fn site(raw: &str) -> Result<CloudId, Error> {
    CloudId::parse(raw).map_err(Error::InvalidRequest)
}

/// The object `{product}/{type}/{id}` segments name.
pub fn object(product: &str, object_type: &str, id: &str) -> Result<ObjectRef, Error> {
    ObjectRef::parse_named(product, object_type, id).map_err(Error::InvalidRequest)
}

/// The site and the object a `…/sites/{cloudId}/objects/{product}/{type}/{id}` path names.
pub fn site_and_object(
    path: web::Path<(String, String, String, String)>,
) -> Result<(CloudId, ObjectRef), Error> {
    let (cloud_id, product, object_type, id) = path.into_inner();
    Ok((site(&cloud_id)?, object(&product, &object_type, &id)?))
}
