//! The one-object baseline: pgbench, one single-row INSERT per transaction
//! into a table shaped like the inbox.

use std::time::Duration;

/// Creates the baseline's table. Shaped like the inbox: its key columns
/// compare bytes (COLLATE "C"), and the event is kept as text.
pub async fn create_table(db: &sqlx::PgPool) {
    sqlx::query(
        r#"CREATE TABLE bench_inbox (id bigserial PRIMARY KEY, cloud_id text COLLATE "C" NOT NULL,
            source text COLLATE "C" NOT NULL, event_id text COLLATE "C" NOT NULL,
            event_type text NOT NULL, raw text NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(), UNIQUE (cloud_id, source, event_id))"#,
    )
    .execute(db)
    .await
    .unwrap();
}

/// pgbench's own figure: one INSERT per transaction, `clients` connections.
pub fn pgbench(db_url: &str, clients: usize, secs: Duration) -> f64 {
    let script = std::env::temp_dir().join(format!("aarc-bench-ingest-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        "INSERT INTO bench_inbox (cloud_id, source, event_id, event_type, raw) \
         VALUES ('site', 'atlassian.com/ecosystem', gen_random_uuid()::text, 'v2', '{\"ids\": [\"1\"]}');\n",
    )
    .unwrap();
    let out = std::process::Command::new(pgbench_binary())
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
        ])
        .arg(secs.as_secs().to_string())
        .arg("-f")
        .arg(&script)
        .arg(db_url)
        .output()
        .expect("pgbench runs");
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in text.lines() {
        print_indented("pgbench", line);
    }
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .expect("pgbench printed its tps")
}

fn print_indented(who: &str, line: &str) {
    if line.starts_with("tps") || line.starts_with("latency") || line.contains("processed") {
        println!("  {who}: {line}");
    }
}

/// pgbench beside the server binaries (Debian's layout) or on PATH.
fn pgbench_binary() -> std::path::PathBuf {
    let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("bin/pgbench"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| "pgbench".into())
}
