//! `deploy/`: every manifest parses, every variable it sets is one aarc
//! reads, the values it sets are ones aarc accepts, and the probes, commands
//! and references point at things that exist.

use std::collections::{BTreeMap, BTreeSet};

use yaml_rust2::{Yaml, YamlLoader};

fn known_variables() -> BTreeSet<&'static str> {
    aarc::config::VARIABLES
        .iter()
        .map(|(name, ..)| *name)
        .chain(["RUST_LOG"])
        .collect()
}

fn load(path: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(!docs.is_empty(), "{path} holds no document");
    docs
}

fn str_of<'a>(y: &'a Yaml, path: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{path}: expected a string, found {y:?}"))
}

/// The Kubernetes manifests, by kind, each with its file.
fn k8s_documents() -> Vec<(String, Yaml)> {
    let mut files: Vec<_> = std::fs::read_dir("deploy/k8s")
        .expect("deploy/k8s exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let name = f.display().to_string();
        for doc in load(&name) {
            if doc.is_null() {
                continue;
            }
            for key in ["apiVersion", "kind"] {
                str_of(&doc[key], &format!("{name} {key}"));
            }
            docs.push((name.clone(), doc));
        }
    }
    docs
}

fn of_kind<'a>(docs: &'a [(String, Yaml)], kind: &str) -> Vec<&'a Yaml> {
    docs.iter()
        .filter(|(_, d)| d["kind"].as_str() == Some(kind))
        .map(|(_, d)| d)
        .collect()
}

fn string_map(y: &Yaml) -> BTreeMap<String, String> {
    y.as_hash()
        .map(|h| {
            h.iter()
                .map(|(k, v)| {
                    let value = match v {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        other => panic!("{k:?}: a value must be a string, found {other:?}"),
                    };
                    (str_of(k, "key").to_string(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_known(source: &str, names: impl IntoIterator<Item = String>) {
    let known = known_variables();
    for name in names {
        assert!(
            known.contains(name.as_str()),
            "{source} sets {name}, which aarc does not read"
        );
    }
}

#[test]
fn kubernetes_manifests_parse_and_set_only_variables_aarc_reads() {
    let docs = k8s_documents();
    let config_maps = of_kind(&docs, "ConfigMap");
    let secrets = of_kind(&docs, "Secret");
    assert_eq!(config_maps.len(), 1);
    assert_eq!(secrets.len(), 1);
    let mut vars = string_map(&config_maps[0]["data"]);
    let secret_vars = string_map(&secrets[0]["stringData"]);
    assert_known("the ConfigMap", vars.keys().cloned());
    assert_known("the Secret", secret_vars.keys().cloned());
    vars.extend(secret_vars);
    // The values are ones aarc accepts, not only names it knows.
    aarc::config::Config::from_map(&vars.into_iter().collect())
        .expect("the ConfigMap and Secret together are a valid configuration");

    let deployments = of_kind(&docs, "Deployment");
    assert_eq!(deployments.len(), 1);
    let deployment = deployments[0];
    assert!(deployment["spec"]["replicas"].as_i64().unwrap() >= 2);
    let jobs = of_kind(&docs, "Job");
    assert_eq!(jobs.len(), 1, "a migration Job");
    assert_eq!(of_kind(&docs, "PodDisruptionBudget").len(), 1);
    assert_eq!(of_kind(&docs, "Service").len(), 1);

    let names = |ds: &[&Yaml]| -> BTreeSet<String> {
        ds.iter()
            .map(|d| str_of(&d["metadata"]["name"], "metadata.name").to_string())
            .collect()
    };
    let (cm_names, secret_names) = (names(&config_maps), names(&secrets));
    for (what, pod) in [
        ("the Deployment", &deployment["spec"]["template"]["spec"]),
        ("the Job", &jobs[0]["spec"]["template"]["spec"]),
    ] {
        let containers = pod["containers"].as_vec().unwrap();
        assert!(!containers.is_empty(), "{what} has containers");
        for c in containers {
            // envFrom points at the ConfigMap and Secret defined here.
            for source in c["envFrom"].as_vec().into_iter().flatten() {
                if let Some(n) = source["configMapRef"]["name"].as_str() {
                    assert!(cm_names.contains(n), "{what}: unknown ConfigMap {n}");
                }
                if let Some(n) = source["secretRef"]["name"].as_str() {
                    assert!(secret_names.contains(n), "{what}: unknown Secret {n}");
                }
            }
            let env = c["env"].as_vec().into_iter().flatten();
            assert_known(
                what,
                env.map(|e| str_of(&e["name"], "env name").to_string()),
            );
            let args: Vec<&str> = c["args"]
                .as_vec()
                .into_iter()
                .flatten()
                .chain(c["command"].as_vec().into_iter().flatten())
                .filter_map(Yaml::as_str)
                .collect();
            let expected = if what == "the Job" {
                "migrate"
            } else {
                "serve"
            };
            assert!(
                args.contains(&expected),
                "{what} runs `aarc {expected}`: {args:?}"
            );
        }
    }
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert!(!container["resources"]["limits"]["memory"].is_badvalue());
    assert!(!container["resources"]["requests"]["cpu"].is_badvalue());
}

#[test]
fn compose_parses_and_sets_only_variables_aarc_reads() {
    let doc = &load("deploy/compose.yaml")[0];
    let services = doc["services"].as_hash().expect("services");
    assert!(services.len() >= 2, "PostgreSQL and aarc");
    let aarc = &doc["services"]["aarc"];
    let env = &aarc["environment"];
    let vars: BTreeMap<String, String> = match env {
        Yaml::Array(items) => items
            .iter()
            .map(|i| {
                let (k, v) = str_of(i, "environment entry").split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect(),
        other => string_map(other),
    };
    assert!(vars.contains_key("DATABASE_URL"));
    assert_known("compose.yaml", vars.keys().cloned());
    aarc::config::Config::from_map(&vars.into_iter().collect())
        .expect("compose's environment is a valid configuration");
}

#[test]
fn the_dockerfile_and_the_systemd_unit_set_only_variables_aarc_reads() {
    let dockerfile = std::fs::read_to_string("deploy/Dockerfile").unwrap();
    let env: Vec<String> = dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ENV "))
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    assert!(!env.is_empty());
    assert_known("the Dockerfile", env);
    assert!(
        dockerfile.lines().any(|l| l.starts_with("USER ")),
        "a non-root user"
    );
    assert!(dockerfile.contains("HEALTHCHECK"));
    assert!(
        dockerfile.contains("healthcheck"),
        "the health check is `aarc healthcheck`"
    );
    assert!(
        dockerfile.matches("FROM ").count() >= 2,
        "a multi-stage build"
    );

    let unit = std::fs::read_to_string("deploy/aarc.service").unwrap();
    let env: Vec<String> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    assert!(!env.is_empty());
    assert_known("aarc.service", env);
    assert!(unit.contains("ExecStart=/usr/local/bin/aarc serve"));
}
