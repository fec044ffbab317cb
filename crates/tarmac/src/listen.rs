//! Start-up of the commands that serve HTTP (`docs serve`, `orchestrate`,
//! `mock-api`): bind, then announce the URL as stdout's first line.
//!
//! Why one place: scripts and the integration tests start these commands
//! with port 0 and read the first line of stdout to learn the port, so the
//! line's form and its flush are a contract; each command used to bind and
//! print on its own. Loopback stays the default of every command's address
//! argument (the library crates never pick an address themselves).

use std::fmt::Display;
use std::io::Write;

use anyhow::{Context, Result};
use tokio::net::{TcpListener, ToSocketAddrs};

/// Bind `addr` (port 0: any free port) and print `<verb> on http://IP:PORT`
/// with the bound port as the first line of stdout, flushed at once.
/// Returns the listener and that URL.
pub async fn bind_and_announce(
    addr: impl ToSocketAddrs + Display,
    verb: &str,
) -> Result<(TcpListener, String)> {
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let url = format!("http://{local}");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{verb} on {url}")?;
    out.flush()?;
    Ok((listener, url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_an_ephemeral_loopback_port() {
        let (listener, url) = bind_and_announce("127.0.0.1:0", "serving").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_ne!(port, 0);
        assert_eq!(url, format!("http://127.0.0.1:{port}"));
    }

    #[tokio::test]
    async fn a_taken_port_names_the_address() {
        let (held, _) = bind_and_announce("127.0.0.1:0", "serving").await.unwrap();
        let addr = held.local_addr().unwrap();
        let e = bind_and_announce(addr, "serving").await.unwrap_err();
        assert!(
            format!("{e:#}").contains(&format!("cannot listen on {addr}")),
            "{e:#}"
        );
    }
}
