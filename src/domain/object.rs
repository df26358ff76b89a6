use std::borrow::Cow;
use std::fmt;

/// An Atlassian product, stored lower-case ("Confluence" and "confluence" are one).
/// The products aarc knows need no allocation (a batch check parses a
/// thousand of them per request).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Product(Cow<'static, str>);

const STATIC_PRODUCTS: [&str; 3] = ["confluence", "jira", "unknown"];

impl Product {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if let Some(known) = STATIC_PRODUCTS
            .iter()
            .find(|p| p.eq_ignore_ascii_case(trimmed))
        {
            return Ok(Self(Cow::Borrowed(known)));
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.is_empty() || lower.len() > 64 || lower.chars().any(char::is_control) {
            return Err(format!(
                "product {raw:?} must be 1 to 64 printable characters"
            ));
        }
        Ok(Self(Cow::Owned(lower)))
    }

    /// v1 events carry no product: the object type says which product owns it.
    /// Types we do not know are kept, under the product "unknown".
    pub fn infer_from_type(object_type: &str) -> Self {
        let product = match object_type {
            "page" | "blogpost" | "whiteboard" | "database" => "confluence",
            "issue" => "jira",
            _ => "unknown",
        };
        Self(Cow::Borrowed(product))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_text(what: &str, raw: &str, max: usize) -> Result<(), String> {
    let fits = if raw.is_ascii() {
        // The common case, in one pass over bytes: ASCII controls are
        // below space, and DEL.
        raw.len() <= max && !raw.bytes().any(|b| b < b' ' || b == 0x7f)
    } else {
        raw.chars().count() <= max && !raw.chars().any(char::is_control)
    };
    if raw.is_empty() || !fits {
        return Err(format!(
            "{what} {raw:?} must be 1 to {max} characters without control characters"
        ));
    }
    Ok(())
}

/// One piece of content: `(product, type, id)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ObjectRef {
    pub product: Product,
    #[serde(rename = "type")]
    pub object_type: String,
    pub id: String,
}

impl ObjectRef {
    /// An object named by three words as a caller sent them (a path, a JSON
    /// body): the product is parsed too.
    pub fn parse_named(product: &str, object_type: &str, id: &str) -> Result<Self, String> {
        Self::parse(Product::parse(product)?, object_type, id)
    }

    pub fn parse(product: Product, object_type: &str, id: &str) -> Result<Self, String> {
        check_text("object type", object_type, 64)?;
        check_text("object id", id, 255)?;
        Ok(Self {
            product,
            object_type: object_type.to_string(),
            id: id.to_string(),
        })
    }
}

/// A container (Confluence space, Jira project) with content blocked inside.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerRef {
    pub product: Product,
    pub id: String,
}

impl ContainerRef {
    pub fn parse(product: Product, id: &str) -> Result<Self, String> {
        check_text("container id", id, 255)?;
        Ok(Self {
            product,
            id: id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_lower_cased_and_inferred() {
        assert_eq!(Product::parse("Confluence").unwrap().as_str(), "confluence");
        assert_eq!(Product::infer_from_type("blogpost").as_str(), "confluence");
        assert_eq!(Product::infer_from_type("issue").as_str(), "jira");
        assert_eq!(Product::infer_from_type("gizmo").as_str(), "unknown");
        assert!(Product::parse("  ").is_err());
    }

    #[test]
    fn object_ids_are_bounded_and_printable() {
        let p = Product::parse("jira").unwrap();
        assert!(ObjectRef::parse(p.clone(), "issue", "10042").is_ok());
        assert!(ObjectRef::parse(p.clone(), "issue", "").is_err());
        assert!(ObjectRef::parse(p.clone(), "issue", "a\u{1}b").is_err());
        assert!(ObjectRef::parse(p, "issue", &"9".repeat(256)).is_err());
    }

    #[test]
    fn a_named_object_parses_its_product_too() {
        let o = ObjectRef::parse_named("Jira", "issue", "10042").unwrap();
        assert_eq!(
            (o.product.as_str(), o.object_type.as_str(), o.id.as_str()),
            ("jira", "issue", "10042")
        );
        let bad_product = ObjectRef::parse_named(" ", "issue", "1").unwrap_err();
        assert!(bad_product.starts_with("product"), "{bad_product}");
        let bad_id = ObjectRef::parse_named("jira", "issue", "").unwrap_err();
        assert!(bad_id.contains("object id"), "{bad_id}");
    }
}
