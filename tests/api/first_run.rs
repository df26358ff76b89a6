//! The README's first-run lines, run as written, and `aarc send` and
//! `aarc healthcheck` on their own.

use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::*;

const README_SITE: &str = "a436116f-02ce-4520-8fbb-7301462a1674";

/// The shell block under "## Trying it".
fn readme_block() -> String {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let section = readme.split("## Trying it").nth(1).unwrap();
    let block = section.split("```sh\n").nth(1).unwrap();
    block.split("```").next().unwrap().to_string()
}

/// The `export` line's variables, for the server the test starts.
fn exported(block: &str) -> Vec<(String, String)> {
    block
        .lines()
        .filter_map(|l| l.strip_prefix("export AARC_"))
        .flat_map(|l| {
            format!("AARC_{l}")
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter_map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Runs the CLI off the test's runtime, which serves the requests it makes.
async fn aarc(app: &TestApp, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let url = app.database_url();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_aarc"))
            .args(args)
            .env("DATABASE_URL", url)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn the_readme_first_run_lines_block_an_object_that_can_be_queried() {
    let block = readme_block();
    let app = spawn_app_with_vars(&exported(&block), |_| {}).await;
    let address = app.address.trim_start_matches("http://").to_string();
    // Everything but starting the server (the test started one), pointed at
    // it, with this build's `aarc` first on PATH (not a release build that
    // may be older).
    let script: String = block
        .lines()
        .filter(|l| !l.contains("scripts/run.sh") && !l.starts_with("export PATH="))
        .map(|l| l.replace("http://127.0.0.1:8080", &app.address))
        .collect::<Vec<_>>()
        .join("\n");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_aarc"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env("PATH", path)
            .env("DATABASE_URL", app.database_url())
            .env("AARC_LISTEN", &address)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("HTTP 202"), "{text}");
    let last = text.lines().last().unwrap();
    let status: Value = serde_json::from_str(last).unwrap();
    assert_eq!(status["state"], "blocked", "{last}");
}

#[tokio::test]
async fn send_signs_posts_and_reports_each_answer() {
    let app = spawn_app().await;
    let add = aarc(
        &app,
        &[
            "tenants",
            "add",
            "--client-key",
            "send-tenant",
            "--shared-secret",
            "a-long-shared-secret-for-tests",
            "--base-url",
            "https://acme-fixtures.atlassian.net",
            "--cloud-id",
            README_SITE,
        ],
    )
    .await;
    assert!(add.status.success(), "{}", stderr(&add));
    let file = "fixtures/valid/v2-objects-batch.json";
    let first = aarc(
        &app,
        &[
            "send",
            file,
            "--tenant",
            "send-tenant",
            "--url",
            &app.address,
        ],
    )
    .await;
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).starts_with("HTTP 202\n"),
        "{}",
        stdout(&first)
    );
    assert!(app.inbox_count(README_SITE).await > 0);
    let again = aarc(
        &app,
        &[
            "send",
            file,
            "--tenant",
            "send-tenant",
            "--url",
            &app.address,
        ],
    )
    .await;
    assert!(again.status.success());
    assert!(stdout(&again).contains("HTTP 200"), "{}", stdout(&again));
    assert!(stdout(&again).contains("duplicate"));

    // Several files: a progress line each; a refused one makes the exit code 1.
    let many = aarc(
        &app,
        &[
            "send",
            "fixtures/valid/v2-objects-structured.json",
            "fixtures/invalid/bad-time.json",
            "--tenant",
            "send-tenant",
            "--url",
            &app.address,
        ],
    )
    .await;
    assert_eq!(many.status.code(), Some(1));
    let lines: Vec<_> = stdout(&many).lines().map(str::to_string).collect();
    assert!(
        lines[0].starts_with("[1/2] fixtures/valid/v2-objects-structured.json → HTTP 202"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("[2/2] fixtures/invalid/bad-time.json → HTTP 400"),
        "{lines:?}"
    );
    assert!(stderr(&many).contains("1 of 2 request(s) were refused"));

    let unknown = aarc(
        &app,
        &["send", file, "--tenant", "nobody", "--url", &app.address],
    )
    .await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no Connect tenant \"nobody\""),
        "{}",
        stderr(&unknown)
    );
    let missing = aarc(
        &app,
        &[
            "send",
            "no/such/file.json",
            "--tenant",
            "send-tenant",
            "--url",
            &app.address,
        ],
    )
    .await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no/such/file.json"));
}

#[tokio::test]
async fn healthcheck_exits_zero_only_when_aarc_is_ready() {
    let app = spawn_app().await;
    let ok = aarc(&app, &["healthcheck", "--url", &app.address]).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    // Nothing listens on port 1.
    let down = aarc(&app, &["healthcheck", "--url", "http://127.0.0.1:1"]).await;
    assert_eq!(down.status.code(), Some(1));
    assert!(stderr(&down).contains("127.0.0.1:1"));
}

#[tokio::test]
async fn migrate_names_each_migration_it_applies_then_says_up_to_date() {
    let url = empty_database().await;
    let run = |url: String| {
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_aarc"))
                .arg("migrate")
                .env("DATABASE_URL", url)
                .output()
                .unwrap()
        })
    };
    let first = run(url.clone()).await.unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let text = stderr(&first);
    let count = aarc::store::MIGRATOR.iter().count();
    assert!(
        text.contains(&format!("applying {count} migration(s):")),
        "{text}"
    );
    for m in aarc::store::MIGRATOR.iter() {
        assert!(
            text.contains(&format!("{} {}", m.version, m.description)),
            "{text}"
        );
    }
    let second = run(url).await.unwrap();
    assert!(second.status.success());
    assert!(
        stderr(&second).contains(&format!(
            "database schema is up to date ({count} migrations)"
        )),
        "{}",
        stderr(&second)
    );
}
