//! Bearer-token extractors. Tokens are compared in constant time so that
//! response timing says nothing about how much of a guess was right.

use std::future::{ready, Ready};

use actix_web::{web, FromRequest, HttpRequest};
use secrecy::ExposeSecret;

use super::AppState;
use crate::config::NamedToken;
use crate::Error;

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The application's state and the bearer token the request presents;
/// `wanted` names the kind of token in the error when there is none.
fn presented<'r>(req: &'r HttpRequest, wanted: &str) -> Result<(&'r AppState, &'r str), Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .map(|data| data.get_ref())
        .ok_or_else(|| Error::Internal("application state missing".into()))?;
    let token = bearer(req).ok_or_else(|| {
        Error::unauthorized(format!(
            "{wanted} is required: Authorization: Bearer <token>"
        ))
    })?;
    Ok((state, token))
}

/// The name of the token that matches, if any (all are checked).
pub fn match_token<'a>(tokens: &'a [NamedToken], presented: &str) -> Option<&'a str> {
    let mut found = None;
    for t in tokens {
        if constant_time_eq(t.token.expose_secret().as_bytes(), presented.as_bytes()) {
            found = Some(t.name.as_str());
        }
    }
    found
}

/// An authenticated operator; its `name` is what audit records show.
pub struct Operator {
    pub name: String,
}

impl Operator {
    fn authenticate(req: &HttpRequest) -> Result<Self, Error> {
        let (state, token) = presented(req, "an operator token")?;
        if let Some(name) = match_token(&state.config.operator_tokens, token) {
            return Ok(Operator {
                name: name.to_string(),
            });
        }
        // A known service token is authenticated but not allowed here.
        if match_token(&state.config.service_tokens, token).is_some() {
            return Err(Error::Forbidden(
                "a service token cannot use operator routes: use an operator token".into(),
            ));
        }
        Err(Error::unauthorized(
            "the bearer token is not an operator token",
        ))
    }
}

impl FromRequest for Operator {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Self::authenticate(req))
    }
}

/// A caller of the status API: one of the app's services, or an operator.
pub struct ServiceCaller {
    pub name: String,
}

impl ServiceCaller {
    fn authenticate(req: &HttpRequest) -> Result<Self, Error> {
        let (state, token) = presented(req, "a service token")?;
        let name = match_token(&state.config.service_tokens, token)
            .or_else(|| match_token(&state.config.operator_tokens, token))
            .ok_or_else(|| {
                Error::unauthorized("the bearer token is not a service or operator token")
            })?;
        Ok(ServiceCaller {
            name: name.to_string(),
        })
    }
}

impl FromRequest for ServiceCaller {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Self::authenticate(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn matches_only_the_exact_token() {
        let tokens = vec![NamedToken {
            name: "alice".into(),
            token: SecretString::from("s3cret".to_string()),
        }];
        assert_eq!(match_token(&tokens, "s3cret"), Some("alice"));
        assert_eq!(match_token(&tokens, "s3cre"), None);
        assert_eq!(match_token(&tokens, "s3cret!"), None);
        assert_eq!(match_token(&tokens, ""), None);
    }
}
