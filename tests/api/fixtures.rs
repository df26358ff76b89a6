//! Replays every case of `fixtures/cases.json` against aarc and checks the
//! status it gets, and that the JSON Schemas in `schemas/` agree with what
//! aarc accepts and refuses.

use serde_json::{json, Value};

use crate::helpers::*;

const CLOUD_ID: &str = "a436116f-02ce-4520-8fbb-7301462a1674";
const CLIENT_KEY: &str = "fixture-connect-tenant";
const SECRET: &str = "fixture-shared-secret-0123456789";
const BASE_URL: &str = "https://acme-fixtures.atlassian.net";
const INSTALLATION: &str = "ari:cloud:ecosystem::installation/7f0c2d5e-1a2b-4c3d-8e9f-000000000001";

fn schema_for_type(event_type: &str) -> Option<&'static str> {
    match event_type {
        "avi:ecosystem.app_policy:blocked:app_access_to_objects.v2" => {
            Some("schemas/v2-objects.schema.json")
        }
        "avi:ecosystem.app_policy:blocked:app_access_to_objects_in_container.v2" => {
            Some("schemas/v2-container.schema.json")
        }
        "avi:ecosystem.app_policy:blocked:app_access_to_objects.v1" => {
            Some("schemas/v1-objects.schema.json")
        }
        _ => None,
    }
}

fn validator(path: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{path} is not a valid schema: {e}"))
}

/// Whether the body's events validate against the case's schema (batch
/// elements against their own type's schema; Forge wrappers unwrapped).
fn schema_valid(case: &Value, body: &[u8]) -> Option<bool> {
    let schema = case["schema"].as_str()?;
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return Some(false);
    };
    let events = match (case["mode"].as_str(), parsed) {
        (Some("batch"), Value::Array(items)) => items,
        (_, Value::Object(mut obj)) if obj.contains_key("event") && !obj.contains_key("type") => {
            vec![obj.remove("event").unwrap()]
        }
        (_, other) => vec![other],
    };
    if events.is_empty() {
        return Some(false);
    }
    Some(events.iter().all(|e| {
        let path = if case["mode"] == "batch" {
            e["type"]
                .as_str()
                .and_then(schema_for_type)
                .unwrap_or(schema)
        } else {
            schema
        };
        validator(path).is_valid(e)
    }))
}

fn authorization(auth: &str, query: &mut String) -> Option<String> {
    let now = chrono::Utc::now().timestamp();
    let fit = |claims: Value, key: u8| sign_fit(&claims, key);
    let claims = fit_claims(INSTALLATION, CLOUD_ID);
    let jwt = |iss: &str, secret: &str, exp: i64, qsh: Option<&str>| {
        format!(
            "JWT {}",
            connect_jwt(iss, secret, "POST", WEBHOOK, "", exp, qsh)
        )
    };
    Some(match auth {
        "connect" => jwt(CLIENT_KEY, SECRET, 180, None),
        "connect-query" => {
            *query = format!(
                "?jwt={}",
                connect_jwt(CLIENT_KEY, SECRET, "POST", WEBHOOK, "", 180, None)
            );
            return None;
        }
        "connect-expired" => jwt(CLIENT_KEY, SECRET, -300, None),
        "connect-bad-signature" => jwt(CLIENT_KEY, "some-other-secret-entirely", 180, None),
        "connect-wrong-qsh" => jwt(CLIENT_KEY, SECRET, 180, Some(&"0".repeat(64))),
        "connect-context-qsh" => jwt(CLIENT_KEY, SECRET, 180, Some("context-qsh")),
        "connect-unknown-iss" => jwt("a-tenant-nobody-registered", SECRET, 180, None),
        "connect-missing-qsh" => {
            let claims = json!({"iss": CLIENT_KEY, "iat": now, "exp": now + 180});
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap();
            format!("JWT {token}")
        }
        "forge" => format!("Bearer {}", fit(claims, 1)),
        "forge-expired" => {
            let mut c = claims;
            c["exp"] = json!(now - 300);
            format!("Bearer {}", fit(c, 1))
        }
        "forge-bad-signature" => {
            // Signed with key 2 but claiming to be key 1.
            let token = fit(claims, 2);
            let good_header = fit(json!({}), 1).split('.').next().unwrap().to_string();
            let rest: Vec<&str> = token.split('.').skip(1).collect();
            format!("Bearer {good_header}.{}", rest.join("."))
        }
        "forge-wrong-audience" => {
            let mut c = claims;
            c["aud"] = json!("ari:cloud:ecosystem::app/99999999-9999-4999-8999-999999999999");
            format!("Bearer {}", fit(c, 1))
        }
        "forge-wrong-issuer" => {
            let mut c = claims;
            c["iss"] = json!("not-forge");
            format!("Bearer {}", fit(c, 1))
        }
        "malformed-token" => "JWT this.is-not.a-token".to_string(),
        "none" => return None,
        other => panic!("fixtures/cases.json uses unknown auth {other:?}"),
    })
}

fn oversize_body() -> Vec<u8> {
    let ids: Vec<String> = (0..150_000).map(|i| format!("{:08}", i)).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    v2_objects_event(CLOUD_ID, &ids).to_string().into_bytes()
}

async fn send(app: &TestApp, case: &Value, body: &[u8]) -> u16 {
    let mut query = String::new();
    let auth = authorization(case["auth"].as_str().unwrap(), &mut query);
    let default_ct = match case["mode"].as_str().unwrap() {
        "structured" => "application/cloudevents+json; charset=UTF-8",
        "batch" => "application/cloudevents-batch+json",
        _ => "application/json",
    };
    let ct = case["content_type"].as_str().unwrap_or(default_ct);
    let mut req = app
        .client
        .post(format!("{}{WEBHOOK}{query}", app.address))
        .body(body.to_vec());
    if !ct.is_empty() {
        req = req.header("Content-Type", ct);
    }
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if let Some(headers) = case["headers"].as_object() {
        for (k, v) in headers {
            req = req.header(k, v.as_str().unwrap());
        }
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_fixture_gets_its_expected_status_and_agrees_with_its_schema() {
    let app = spawn_app().await;
    app.register(&ConnectTenant {
        client_key: CLIENT_KEY.into(),
        secret: SECRET.into(),
        cloud_id: CLOUD_ID.into(),
        base_url: BASE_URL.into(),
    })
    .await;
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string("fixtures/cases.json").unwrap()).unwrap();
    let mut failures = Vec::new();
    let mut bad_inputs = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let body = match (case["file"].as_str(), case["generate"].as_str()) {
            (Some(file), _) => std::fs::read(format!("fixtures/{file}"))
                .unwrap_or_else(|e| panic!("{name}: {file}: {e}")),
            (None, Some("oversize")) => oversize_body(),
            _ => panic!("{name}: neither file nor generate"),
        };
        let expect = case["expect"].as_u64().unwrap() as u16;
        if expect >= 400 {
            bad_inputs += 1;
        }
        if let Some(valid) = schema_valid(case, &body) {
            if (200..300).contains(&expect) && !valid {
                failures.push(format!(
                    "{name}: accepted by contract but invalid against {}",
                    case["schema"]
                ));
            }
            if expect == 400 && valid {
                failures.push(format!(
                    "{name}: refused with 400 but valid against {}",
                    case["schema"]
                ));
            }
        }
        let got = send(&app, case, &body).await;
        if got != expect {
            failures.push(format!("{name}: expected {expect}, got {got}"));
        }
        if let Some(then) = case["then_expect"].as_u64() {
            let again = send(&app, case, &body).await;
            if again as u64 != then {
                failures.push(format!(
                    "{name}: expected {then} when sent again, got {again}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(bad_inputs >= 25, "only {bad_inputs} bad-input fixtures");
    for mode in ["structured", "binary", "batch", "plain"] {
        assert!(
            cases
                .iter()
                .any(|c| c["mode"] == mode && c["expect"] == 202),
            "no accepted fixture in {mode} mode"
        );
    }
    // Accepted fixtures left their mark: objects blocked on the fixture site.
    assert!(app.blocked_count(CLOUD_ID).await > 0);
}

#[test]
fn every_schema_is_a_valid_2020_12_schema() {
    for path in [
        "schemas/v2-objects.schema.json",
        "schemas/v2-container.schema.json",
        "schemas/v1-objects.schema.json",
        "schemas/plain-json.schema.json",
    ] {
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{path}"
        );
        validator(path);
    }
}
