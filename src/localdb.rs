//! A project-local PostgreSQL cluster, used when `DATABASE_URL` is not given.
//!
//! The cluster lives in `<AARC_DATA_DIR>/pg` (default `.aarc/pg`), listens on
//! 127.0.0.1 on a port chosen at `initdb` time (recorded in `aarc-port`) and
//! on no unix socket, so deep checkout paths cannot hit the socket-path limit.
//! PostgreSQL refuses to run as root, so as root the server binaries run as
//! the `postgres` user that Debian's package creates.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::process::Command;

const DATABASE: &str = "aarc";

pub struct LocalDb {
    cluster_dir: PathBuf,
    bin_dir: PathBuf,
    port: u16,
    /// True when this process started the server (and so should stop it).
    pub started_here: bool,
}

impl LocalDb {
    /// Initialises the cluster if needed, starts it unless it is running,
    /// and makes sure the `aarc` database exists.
    pub async fn ensure(data_dir: &Path) -> Result<Self, String> {
        let bin_dir = find_bin_dir()?;
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let cluster_dir = data_dir.join("pg");
        if !cluster_dir.join("PG_VERSION").exists() {
            init_cluster(&bin_dir, &cluster_dir).await?;
        }
        let port = read_port(&cluster_dir)?;
        let mut db = Self {
            cluster_dir,
            bin_dir,
            port,
            started_here: false,
        };
        if !db.is_running().await? {
            db.start().await?;
            db.started_here = true;
        }
        db.create_database().await?;
        Ok(db)
    }

    /// Connects to an existing cluster without starting it.
    pub async fn status(data_dir: &Path) -> Result<Option<Self>, String> {
        let cluster_dir = data_dir.join("pg");
        if !cluster_dir.join("PG_VERSION").exists() {
            return Ok(None);
        }
        let db = Self {
            port: read_port(&cluster_dir)?,
            cluster_dir: cluster_dir
                .canonicalize()
                .map_err(|e| format!("{}: {e}", cluster_dir.display()))?,
            bin_dir: find_bin_dir()?,
            started_here: false,
        };
        Ok(if db.is_running().await? {
            Some(db)
        } else {
            None
        })
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Stops the server, letting sessions finish their transactions.
    pub async fn stop(&self) -> Result<(), String> {
        let ctl = self.bin_dir.join("pg_ctl");
        run(as_server_user(&ctl)
            .args(["-D".as_ref(), self.cluster_dir.as_os_str()])
            .args(["-m", "fast", "-w", "stop"]))
        .await
        .map(|_| ())
    }

    async fn is_running(&self) -> Result<bool, String> {
        let ctl = self.bin_dir.join("pg_ctl");
        let status = as_server_user(&ctl)
            .arg("-D")
            .arg(&self.cluster_dir)
            .arg("status")
            .output()
            .await
            .map_err(|e| format!("cannot run {}: {e}", ctl.display()))?;
        Ok(status.status.success())
    }

    async fn start(&self) -> Result<(), String> {
        let ctl = self.bin_dir.join("pg_ctl");
        let log = self.cluster_dir.join("aarc-server.log");
        run(as_server_user(&ctl)
            .arg("-D")
            .arg(&self.cluster_dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"]))
        .await
        .map_err(|e| format!("{e}\n(server log: {})", log.display()))?;
        Ok(())
    }

    async fn create_database(&self) -> Result<(), String> {
        use sqlx::Connection;
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .map_err(|e| format!("cannot connect to the local cluster: {e}"))?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
        if !exists {
            // Two processes may race here; losing the race is fine.
            if let Err(e) = sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await
            {
                if !e.to_string().contains("already exists") {
                    return Err(format!("cannot create database {DATABASE}: {e}"));
                }
            }
        }
        Ok(())
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn as_server_user(program: &Path) -> Command {
    if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

async fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .await
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The newest installed server's binaries: `pg_ctl` on PATH, else Debian's
/// `/usr/lib/postgresql/<version>/bin`.
fn find_bin_dir() -> Result<PathBuf, String> {
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    candidates.sort();
    if let Some((_, bin)) = candidates.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
        .ok_or_else(|| {
            "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them \
             (Debian: apt-get install postgresql) or set DATABASE_URL to an existing server."
                .to_string()
        })
}

async fn init_cluster(bin_dir: &Path, cluster_dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(cluster_dir)
        .map_err(|e| format!("cannot create {}: {e}", cluster_dir.display()))?;
    if running_as_root() {
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(cluster_dir))
        .await
        .map_err(|e| {
            format!("{e} (as root, the cluster belongs to the postgres user; does it exist?)")
        })?;
    }
    let initdb = bin_dir.join("initdb");
    run(as_server_user(&initdb).arg("-D").arg(cluster_dir).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
    ]))
    .await?;
    let port = free_port()?;
    // Appended settings win over the defaults initdb wrote above them.
    // shared_buffers stays at initdb's 128 MB: with a quarter of the memory
    // (1 GB here) PostgreSQL spent 43-49 µs of CPU per ingested event
    // instead of 38-39, and ingest fell from 0.94x to 0.80x of pgbench in the
    // same run; the status benchmark meets its targets either way.
    // WAL buffers of 16 MB (initdb's 128 MB of shared buffers give 4 MB) and
    // checkpoints every 4 GB of WAL instead of 1: four 10,000-object events
    // written side by side filled 4 MB at once, and their backends waited
    // on each other to write WAL out (the large-event ingest benchmark went
    // from 195,000 to 233,000 objects/s).
    let settings = format!(
        "\n# added by aarc\nport = {port}\nlisten_addresses = '127.0.0.1'\n\
         unix_socket_directories = ''\nmax_connections = 300\njit = off\n\
         wal_buffers = 16MB\nmax_wal_size = 4GB\n"
    );
    let conf = cluster_dir.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).map_err(|e| e.to_string())?;
    text.push_str(&settings);
    std::fs::write(&conf, text).map_err(|e| e.to_string())?;
    std::fs::write(cluster_dir.join("aarc-port"), port.to_string()).map_err(|e| e.to_string())?;
    Ok(())
}

fn read_port(cluster_dir: &Path) -> Result<u16, String> {
    let file = cluster_dir.join("aarc-port");
    std::fs::read_to_string(&file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            format!(
                "{} is missing or unreadable; remove {} to start over",
                file.display(),
                cluster_dir.display()
            )
        })
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
