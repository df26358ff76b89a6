//! The qsh code against vectors computed by an independent implementation
//! (the `atlassian-jwt` Python package; see tests/vectors/generate_qsh.py).

use aarc::ingest::auth::qsh;
use serde_json::Value;

#[test]
fn canonical_requests_and_hashes_match_the_independent_implementation() {
    let text = std::fs::read_to_string("tests/vectors/qsh.json").expect("tests/vectors/qsh.json");
    let vectors: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(vectors.len() >= 20, "too few vectors: {}", vectors.len());
    for v in &vectors {
        let (method, path, query) = (
            v["method"].as_str().unwrap(),
            v["path"].as_str().unwrap(),
            v["query"].as_str().unwrap(),
        );
        assert_eq!(
            qsh::canonical_request(method, path, query),
            v["canonical"].as_str().unwrap(),
            "{v}"
        );
        assert_eq!(
            qsh::qsh(method, path, query),
            v["qsh"].as_str().unwrap(),
            "{v}"
        );
    }
}
