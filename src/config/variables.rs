//! Every variable aarc reads, with its default, an example and its meaning:
//! the reference the README's configuration table is tested against.

/// Every variable aarc reads: (name, default, example, meaning).
pub const VARIABLES: &[(&str, &str, &str, &str)] = &[
    (
        "DATABASE_URL",
        "(local cluster)",
        "postgres://aarc@db:5432/aarc",
        "PostgreSQL to use; when unset, aarc runs its own cluster under AARC_DATA_DIR",
    ),
    (
        "AARC_LISTEN",
        "127.0.0.1:8080",
        "0.0.0.0:8080",
        "address the HTTP server binds",
    ),
    (
        "AARC_SERVICE_TOKENS",
        "(none)",
        "search:s3cret,export:t0ken",
        "name:token pairs accepted from the app's services",
    ),
    (
        "AARC_OPERATOR_TOKENS",
        "(none)",
        "alice:op-token",
        "name:token pairs of operators (admin routes, UI)",
    ),
    (
        "AARC_MAX_BODY_BYTES",
        "1048576",
        "2097152",
        "largest webhook body accepted (413 above)",
    ),
    (
        "AARC_DEFAULT_ACTION",
        "hide",
        "purge",
        "retention action when no site policy applies: keep, hide or purge",
    ),
    (
        "AARC_DEFAULT_GRACE",
        "30d",
        "90d",
        "grace period before a purge decision",
    ),
    (
        "AARC_DEFAULT_REVIEW",
        "required",
        "auto",
        "whether purge decisions wait for an operator",
    ),
    (
        "AARC_APP_KEY",
        "(none)",
        "com.example.myapp",
        "the Connect app key, iss of the JWTs aarc signs",
    ),
    (
        "AARC_VERIFY",
        "on",
        "off",
        "verify blocks against Atlassian",
    ),
    (
        "AARC_RECONCILER",
        "on",
        "off",
        "whether `aarc serve` runs reconciler passes",
    ),
    (
        "AARC_RECONCILE_INTERVAL",
        "1m",
        "5m",
        "time between reconciler passes",
    ),
    (
        "AARC_APP_CALLBACK_URL",
        "(none)",
        "https://app.example.com/aarc",
        "where retention notifications are sent",
    ),
    (
        "AARC_APP_CALLBACK_SECRET",
        "(none)",
        "whsec_c2VjcmV0",
        "Standard Webhooks signing secret for notifications",
    ),
    (
        "AARC_FORGE_APP_IDS",
        "(none)",
        "ari:cloud:ecosystem::app/0b1d2c3e-4f50-4a6b-9c7d-8e9f0a1b2c3d",
        "comma-separated Forge app ids whose invocation tokens are accepted",
    ),
    (
        "AARC_FORGE_JWKS_URL",
        "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json",
        "http://127.0.0.1:9000/jwks.json",
        "where Forge's signing keys are fetched",
    ),
    (
        "AARC_LOG_FORMAT",
        "pretty",
        "json",
        "log output: json or pretty",
    ),
    ("AARC_MIGRATE", "on", "off", "run migrations at start-up"),
    (
        "AARC_DATA_DIR",
        ".aarc",
        "/var/lib/aarc",
        "where the self-managed PostgreSQL cluster lives",
    ),
    (
        "AARC_DB_POOL_SIZE",
        "16",
        "32",
        "database connections per process (2 to 1000); AARC_INGEST_WRITERS of them are the group-commit writers' own",
    ),
    (
        "AARC_INGEST_BATCH_WAIT_MS",
        "1",
        "0.5",
        "group commit: how long (0 to 100 ms; fractions round up to the timer's 1 ms ticks) a group waits, gathering more requests, for the group being written before it to commit",
    ),
    (
        "AARC_INGEST_BATCH_LINGER_MS",
        "0",
        "50",
        "group commit: how long (0 to 100 ms; fractions round up to the timer's 1 ms ticks) a group waits for more requests when no other is being written",
    ),
    (
        "AARC_INGEST_BATCH_MAX",
        "32",
        "1000",
        "group commit: the most events (1 to 100000) written in one transaction",
    ),
    (
        "AARC_INGEST_BATCH_MAX_OBJECTS",
        "2000",
        "10000",
        "group commit: a group holding this many object ids (1 to 10000000) is written without waiting for more; large events then go in transactions of their own, side by side",
    ),
    (
        "AARC_INGEST_WRITERS",
        "pool size / 4, 1 to 4",
        "8",
        "group commit: transactions writing events at once (1 to 64, below the pool size)",
    ),
    (
        "AARC_HTTP_WORKERS",
        "half the cores, at least 1",
        "1",
        "threads (1 to 256) reading and answering HTTP requests",
    ),
    (
        "AARC_WORKER_THREADS",
        "1",
        "2",
        "threads (1 to 256) running the group-commit writers and background work (reconciler, status-cache reads, outbox deliveries)",
    ),
    (
        "AARC_STATUS_CACHE_OBJECTS",
        "2000000",
        "0",
        "status answers: blocked objects held in memory over all sites (23 to 46 bytes each; 0 = always ask the database)",
    ),
    (
        "AARC_CONFIG_FILE",
        "(none)",
        "/etc/aarc/aarc.env",
        "KEY=VALUE file read before the environment",
    ),
];

#[cfg(test)]
mod tests {
    use super::VARIABLES;

    /// The README's configuration table is the documentation users read; it
    /// must name every variable aarc reads, with its default.
    #[test]
    fn the_readme_documents_every_variable_with_its_default() {
        let readme = include_str!("../../README.md");
        for (name, default, ..) in VARIABLES {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("README has no row for {name}"));
            let shown = default.trim_start_matches('(').trim_end_matches(')');
            assert!(
                row.contains(shown),
                "README row for {name} does not show default {default}: {row}"
            );
        }
    }
}
