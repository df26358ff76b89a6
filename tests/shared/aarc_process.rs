//! `aarc serve` as a child process, for the integration tests
//! (`tests/api/load.rs`) and the ingest benchmark (`benches/ingest/`), which
//! both include this file by path: they start aarc the same way.

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `aarc serve` as a child process, killed when dropped.
pub struct AarcProcess {
    pub child: tokio::process::Child,
    pub base: String,
}

impl AarcProcess {
    /// Starts `binary serve` on a free port of 127.0.0.1 with `vars` (beside
    /// `DATABASE_URL` and `AARC_LISTEN`) and waits until `/readyz` answers 200.
    pub async fn start(binary: &str, db_url: &str, vars: &[(&str, &str)]) -> Self {
        let port = free_port();
        let child = tokio::process::Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", db_url)
            .env("AARC_LISTEN", format!("127.0.0.1:{port}"))
            .envs(vars.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} serve does not start: {e}"));
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        // Migrations run before it is ready: on a slow machine that takes a while.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(Instant::now() < deadline, "aarc did not become ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, base }
    }

    /// Kills it with SIGKILL, as a crash would, and waits until it is gone.
    pub async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    /// The process id, to read its figures from /proc (0 once it has exited).
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }
}
