//! Tests of `Config::from_map`: defaults, bounds, and refusals that name the variable.

use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_follow_the_contract() {
    let c = Config::from_map(&vars(&[])).unwrap();
    assert_eq!(c.listen, "127.0.0.1:8080");
    assert_eq!(c.max_body_bytes, 1 << 20);
    assert_eq!(c.default_action, RetentionAction::Hide);
    assert_eq!(c.default_grace.to_string(), "30d");
    assert_eq!(c.default_review, ReviewMode::Required);
    assert!(c.verify && c.reconciler);
    assert_eq!(c.forge_jwks_url, DEFAULT_JWKS_URL);
}

#[test]
fn app_ids_are_normalised_and_tokens_named() {
    let c = Config::from_map(&vars(&[
        ("AARC_FORGE_APP_IDS", "ari:cloud:ecosystem::app/abc, def"),
        ("AARC_OPERATOR_TOKENS", "alice:t1,bob:t2"),
    ]))
    .unwrap();
    assert_eq!(c.forge_app_ids, vec!["abc", "def"]);
    assert_eq!(c.operator_tokens[1].name, "bob");
}

#[test]
fn bad_values_are_named_without_leaking_secrets() {
    let err = Config::from_map(&vars(&[("AARC_OPERATOR_TOKENS", "no-colon-secret")])).unwrap_err();
    assert!(err.contains("AARC_OPERATOR_TOKENS") && !err.contains("no-colon-secret"));
    assert!(Config::from_map(&vars(&[("AARC_DEFAULT_GRACE", "soon")])).is_err());
    assert!(Config::from_map(&vars(&[("AARC_VERIFY", "maybe")])).is_err());
    assert!(Config::from_map(&vars(&[("AARC_TYPO", "1")])).is_err());
}

#[test]
fn a_group_holds_2000_objects_by_default_and_at_least_one() {
    let max =
        |pairs: &[(&str, &str)]| Config::from_map(&vars(pairs)).map(|c| c.ingest_batch_max_objects);
    assert_eq!(max(&[]), Ok(2_000));
    assert_eq!(
        max(&[("AARC_INGEST_BATCH_MAX_OBJECTS", "10000")]),
        Ok(10_000)
    );
    let err = max(&[("AARC_INGEST_BATCH_MAX_OBJECTS", "0")]).unwrap_err();
    assert!(err.contains("AARC_INGEST_BATCH_MAX_OBJECTS"), "{err}");
    assert!(max(&[("AARC_INGEST_BATCH_MAX_OBJECTS", "many")]).is_err());
}

#[test]
fn ingest_writers_default_from_the_pool_and_leave_it_a_connection() {
    let writers = |pairs: &[(&str, &str)]| Config::from_map(&vars(pairs)).map(|c| c.ingest_writers);
    assert_eq!(writers(&[]), Ok(4));
    assert_eq!(writers(&[("AARC_DB_POOL_SIZE", "2")]), Ok(1));
    // The writers' connections come out of the pool: one is not enough.
    let err = writers(&[("AARC_DB_POOL_SIZE", "1")]).unwrap_err();
    assert!(
        err.contains("AARC_DB_POOL_SIZE") && err.contains("2 to 1000"),
        "{err}"
    );
    assert_eq!(
        writers(&[("AARC_DB_POOL_SIZE", "32"), ("AARC_INGEST_WRITERS", "8")]),
        Ok(8)
    );
    let err = writers(&[("AARC_DB_POOL_SIZE", "8"), ("AARC_INGEST_WRITERS", "8")]).unwrap_err();
    assert!(err.contains("leaves no connection"), "{err}");
    assert!(writers(&[("AARC_INGEST_WRITERS", "0")]).is_err());
}

#[test]
fn batch_waits_take_fractions_of_a_millisecond_within_bounds() {
    let c = Config::from_map(&vars(&[
        ("AARC_INGEST_BATCH_WAIT_MS", "0.5"),
        ("AARC_INGEST_BATCH_LINGER_MS", "20"),
    ]))
    .unwrap();
    assert_eq!(c.ingest_batch_wait, Duration::from_micros(500));
    assert_eq!(c.ingest_batch_linger, Duration::from_millis(20));
    let defaults = Config::from_map(&vars(&[])).unwrap();
    assert_eq!(defaults.ingest_batch_wait, Duration::from_millis(1));
    assert_eq!(defaults.ingest_batch_linger, Duration::ZERO);
    for bad in ["-1", "100.5", "NaN", "inf", "soon"] {
        let err = Config::from_map(&vars(&[("AARC_INGEST_BATCH_WAIT_MS", bad)])).unwrap_err();
        assert!(err.contains("AARC_INGEST_BATCH_WAIT_MS"), "{bad}: {err}");
    }
}

#[test]
fn http_workers_are_at_least_one() {
    assert!(Config::from_map(&vars(&[])).unwrap().http_workers >= 1);
    let c = Config::from_map(&vars(&[("AARC_HTTP_WORKERS", "3")])).unwrap();
    assert_eq!(c.http_workers, 3);
    assert!(Config::from_map(&vars(&[("AARC_HTTP_WORKERS", "0")])).is_err());
}

#[test]
fn worker_threads_default_to_one_and_are_bounded() {
    assert_eq!(Config::from_map(&vars(&[])).unwrap().worker_threads, 1);
    let c = Config::from_map(&vars(&[("AARC_WORKER_THREADS", "4")])).unwrap();
    assert_eq!(c.worker_threads, 4);
    for bad in ["0", "257", "two"] {
        let err = Config::from_map(&vars(&[("AARC_WORKER_THREADS", bad)])).unwrap_err();
        assert!(err.contains("AARC_WORKER_THREADS"), "{bad}: {err}");
    }
}

#[test]
fn env_file_lines_are_parsed() {
    let v = parse_env_file("# comment\nAARC_LISTEN=0.0.0.0:9\n\nAARC_VERIFY=\"off\"\n").unwrap();
    assert_eq!(v["AARC_LISTEN"], "0.0.0.0:9");
    assert_eq!(v["AARC_VERIFY"], "off");
    assert!(parse_env_file("garbage").is_err());
}
