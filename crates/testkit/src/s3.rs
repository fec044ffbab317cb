//! A real S3-compatible server for the object-storage tests: moto's
//! standalone server (`moto_server`, pinned in `bench/s3-requirements.txt`),
//! started per test on an ephemeral port of 127.0.0.1 and stopped on drop.
//!
//! It is found at `$TARMAC_MOTO` (`.ci/run` sets it to the virtualenv it
//! keeps outside the clone), else `<repo>/.venv-s3/bin/moto_server`.
//! Without it a test skips with a message, except under `CI=true`, where it
//! fails.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{in_ci, repo_root};

/// How to get the server, for the skip and failure messages.
pub const HOW_TO_GET_MOTO: &str = "set TARMAC_MOTO to a moto_server executable, or run: bash bench/py_venv.sh bench/s3-requirements.txt .venv-s3 moto_server";

/// The access key the tests give the server (moto accepts any unless told
/// to check them).
pub const ACCESS_KEY_ID: &str = "tarmac-test-key";
pub const SECRET_ACCESS_KEY: &str = "tarmac-test-secret-0123456789";

/// Where moto_server would be.
pub fn moto_location() -> PathBuf {
    match std::env::var_os("TARMAC_MOTO") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join(".venv-s3/bin/moto_server"),
    }
}

/// A running S3 server.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    port: u16,
}

impl S3Server {
    /// Starts a server for `test`; `None` (with a message) when moto is not
    /// installed outside CI.
    pub fn start(test: &str) -> Option<S3Server> {
        Self::start_with(test, &[])
    }

    /// [`start`](Self::start) with extra environment for the server (moto
    /// checks credentials with `INITIAL_NO_AUTH_ACTION_COUNT=0`).
    pub fn start_with(test: &str, env: &[(&str, &str)]) -> Option<S3Server> {
        let exe = moto_location();
        if !exe.is_file() {
            if std::env::var_os("TARMAC_MOTO").is_some_and(|v| !v.is_empty()) {
                panic!("{test}: TARMAC_MOTO={} is not a file", exe.display());
            }
            if in_ci() {
                panic!(
                    "{test}: an S3 server is required under CI=true but none is at {} ({HOW_TO_GET_MOTO})",
                    exe.display()
                );
            }
            eprintln!(
                "SKIP {test}: no S3 server at {} ({HOW_TO_GET_MOTO})",
                exe.display()
            );
            return None;
        }
        let port = free_port();
        let mut cmd = Command::new(&exe);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start moto_server");
        reap_with_this_process(child.id());
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.request("GET", "/", &[]).is_err() {
            assert!(
                Instant::now() < deadline,
                "{test}: moto_server did not answer on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// The variables that point a `tarmac` process at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = self
            .request("PUT", &format!("/{bucket}"), &[])
            .expect("create bucket");
        assert_eq!(status, 200, "create bucket {bucket}: {body}");
    }

    /// Every key in `bucket` under `prefix`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/{bucket}?list-type=2&prefix={}", encode(prefix));
            if let Some(t) = &token {
                path.push_str(&format!("&continuation-token={}", encode(t)));
            }
            let (status, body) = self.request("GET", &path, &[]).expect("list bucket");
            assert_eq!(status, 200, "list {bucket}: {body}");
            keys.extend(tags(&body, "Key"));
            token = tags(&body, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                break;
            }
        }
        keys.sort();
        keys
    }

    /// One object's bytes.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let (status, body) = self
            .raw("GET", &format!("/{bucket}/{key}"), &[])
            .expect("get object");
        assert_eq!(status, 200, "get {bucket}/{key}");
        body
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
        self.raw(method, path, body)
            .map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
    }

    /// A plain HTTP/1.0 request (no chunked answers). moto does not check
    /// signatures unless told to, but serves objects only to requests that
    /// carry credentials: an `Authorization` header of the right shape with
    /// the test's key id is enough.
    fn raw(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, \
             SignedHeaders=host, Signature=0\r\n\r\n",
            self.port,
            body.len()
        )?;
        s.write_all(body)?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)?;
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("no HTTP header end"))?;
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
        Ok((status, answer[split + 4..].to_vec()))
    }
}

/// Kills `pid` once this test process has exited. `Drop` kills the server
/// too, but a server kept in a `static` (one per test binary, as
/// `ingest/tests/store_s3.rs` keeps it: the endpoint is process-wide
/// environment) is never dropped, and each run left a `moto_server`
/// behind. A small `sh` watches this process and outlives it by at most a
/// second; a server that `Drop` already killed it skips (the pid must
/// still be a `moto_server`, not a process that reused the number).
fn reap_with_this_process(pid: u32) {
    let me = std::process::id();
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; \
         grep -q moto_server /proc/{pid}/cmdline 2>/dev/null && kill -9 {pid}"
    );
    // Best effort: without sh, the server lives on as before.
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port of 127.0.0.1 that nothing listens on at the moment.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}

/// The texts of every `<tag>…</tag>` in an XML answer.
fn tags(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(
            rest[..j]
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'"),
        );
        rest = &rest[j + close.len()..];
    }
    out
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_xml_tags() {
        let xml = "<R><Key>a=b/c</Key><Key>x&amp;y</Key></R>";
        assert_eq!(tags(xml, "Key"), vec!["a=b/c", "x&y"]);
        assert!(tags(xml, "None").is_empty());
        assert_eq!(encode("a=b/c d"), "a%3Db%2Fc%20d");
    }
}
