//! A real PostgreSQL server for tests (the lake's SQL catalog): Debian's
//! `postgresql` binaries, a fresh cluster in a temporary folder, started on
//! an ephemeral port of 127.0.0.1 and stopped on drop.
//!
//! The binaries are found at `$TARMAC_PG_BIN`, else the newest
//! `/usr/lib/postgresql/<version>/bin`. PostgreSQL refuses to run as root,
//! so as root the cluster belongs to the `postgres` user the package makes
//! and its programs run through `runuser`. Without the binaries a test
//! skips with a message, except under `CI=true`, where it fails.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::in_ci;

pub const HOW_TO_GET_POSTGRES: &str =
    "install Debian's postgresql (apt-get install postgresql), or set TARMAC_PG_BIN to its bin folder";

/// A running PostgreSQL cluster with trust authentication for user `tarmac`.
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    as_root: bool,
    pub port: u16,
}

fn bin_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TARMAC_PG_BIN").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PgServer {
    /// Starts a cluster for `test`; `None` (with a message) when PostgreSQL
    /// is not installed outside CI.
    pub fn start(test: &str) -> Option<PgServer> {
        let Some(bin) = bin_dir() else {
            if in_ci() {
                panic!("{test}: PostgreSQL is required under CI=true ({HOW_TO_GET_POSTGRES})");
            }
            eprintln!("SKIP {test}: no PostgreSQL ({HOW_TO_GET_POSTGRES})");
            return None;
        };
        let as_root = is_root();
        let dir = std::env::temp_dir().join(format!(
            "tarmac-pg-{}-{}",
            std::process::id(),
            crate::s3::free_port()
        ));
        std::fs::create_dir_all(&dir).expect("cluster folder");
        if as_root {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown")
                .success();
            assert!(ok, "{test}: chown of the cluster folder to postgres failed");
        }
        let port = crate::s3::free_port();
        let server = PgServer {
            bin,
            dir,
            as_root,
            port,
        };
        let data = server.dir.join("data");
        let out = server
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "tarmac",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "{test}: initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = server
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(server.dir.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -h 127.0.0.1 -k {} -c fsync=off",
                server.dir.display()
            ))
            .args(["-w", "start"])
            .output()
            .expect("run pg_ctl");
        assert!(
            out.status.success(),
            "{test}: pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(server.dir.join("log")).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{test}: PostgreSQL did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.stdin(Stdio::null());
        cmd
    }

    /// A URL for database `postgres` as user `tarmac` (no password).
    pub fn url(&self) -> String {
        format!("postgresql://tarmac@127.0.0.1:{}/postgres", self.port)
    }

    /// The cluster's folder (its log is `log` in it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
