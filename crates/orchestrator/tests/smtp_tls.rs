//! Email over STARTTLS and implicit TLS against a local SMTP sink with a
//! certificate of its own CA: trusted through `ca_file`, through the
//! documented `insecure` flag, and refused with neither.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use orchestrator::config::{EmailSettings, SmtpSecurity};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/smtp")
        .join(name)
}

fn server_config() -> Arc<rustls::ServerConfig> {
    let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    )
}

/// A one-message-at-a-time SMTP sink on 127.0.0.1:0.
struct Sink {
    port: u16,
    messages: Arc<Mutex<Vec<String>>>,
    /// Why the last TLS handshake failed, if it did.
    tls_errors: Arc<Mutex<Vec<String>>>,
}

impl Sink {
    fn start(security: SmtpSecurity) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let tls_errors = Arc::new(Mutex::new(Vec::new()));
        let (m, t) = (messages.clone(), tls_errors.clone());
        let config = server_config();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (m, t, c) = (m.clone(), t.clone(), config.clone());
                std::thread::spawn(move || session(conn, security, c, m, t));
            }
        });
        Sink {
            port,
            messages,
            tls_errors,
        }
    }
}

fn read_line(r: &mut impl Read) -> Option<String> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match r.read(&mut b) {
            Ok(1) => {
                out.push(b[0]);
                if b[0] == b'\n' {
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
            }
            _ => return None,
        }
    }
}

fn session(
    mut tcp: TcpStream,
    security: SmtpSecurity,
    config: Arc<rustls::ServerConfig>,
    messages: Arc<Mutex<Vec<String>>>,
    tls_errors: Arc<Mutex<Vec<String>>>,
) {
    if security == SmtpSecurity::Starttls {
        // the clear-text part: greeting, EHLO offering STARTTLS, STARTTLS
        let _ = tcp.write_all(b"220 sink ESMTP\r\n");
        loop {
            let Some(line) = read_line(&mut tcp) else {
                return;
            };
            let cmd = line.trim_end().to_ascii_uppercase();
            if cmd.starts_with("EHLO") {
                let _ = tcp.write_all(b"250-sink\r\n250 STARTTLS\r\n");
            } else if cmd == "STARTTLS" {
                let _ = tcp.write_all(b"220 go ahead\r\n");
                break;
            } else {
                let _ = tcp.write_all(b"530 must issue STARTTLS first\r\n");
            }
        }
    }
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            tls_errors.lock().unwrap().push(e.to_string());
            return;
        }
    }
    if security == SmtpSecurity::Tls {
        let _ = tls.write_all(b"220 sink ESMTP\r\n");
    }
    let mut r = BufReader::new(tls);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if cmd.starts_with("DATA") {
            let _ = r.get_mut().write_all(b"354 go ahead\r\n");
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(&l);
            }
            messages.lock().unwrap().push(data);
            b"250 queued\r\n"
        } else if cmd.starts_with("QUIT") {
            let _ = r.get_mut().write_all(b"221 bye\r\n");
            let _ = r.get_mut().flush();
            return;
        } else {
            b"250 ok\r\n"
        };
        let _ = r.get_mut().write_all(reply);
        let _ = r.get_mut().flush();
    }
}

fn settings(port: u16, security: SmtpSecurity) -> EmailSettings {
    EmailSettings {
        host: "localhost".into(),
        port,
        security,
        from: "tarmac@example.com".into(),
        to: vec!["ops@example.com".into()],
        username_env: "TARMAC_TEST_SMTP_USER_UNSET".into(),
        password_env: "TARMAC_TEST_SMTP_PASSWORD_UNSET".into(),
        ca_file: None,
        insecure: false,
    }
}

#[test]
fn starttls_and_implicit_tls_deliver_when_the_ca_is_trusted() {
    for security in [SmtpSecurity::Starttls, SmtpSecurity::Tls] {
        let sink = Sink::start(security);
        let mut e = settings(sink.port, security);
        e.ca_file = Some(fixture("ca.pem"));
        orchestrator::alerts::send_email(&e, "[tarmac] OK: job x", "all good")
            .unwrap_or_else(|err| panic!("{security:?}: {err}"));
        let m = sink.messages.lock().unwrap().clone();
        assert_eq!(m.len(), 1, "{security:?}");
        assert!(m[0].contains("Subject: [tarmac] OK: job x"), "{}", m[0]);
        assert!(m[0].contains("all good"));
    }
}

#[test]
fn an_unknown_certificate_is_refused_unless_insecure() {
    for security in [SmtpSecurity::Starttls, SmtpSecurity::Tls] {
        let sink = Sink::start(security);
        let e = settings(sink.port, security);
        let err = orchestrator::alerts::send_email(&e, "s", "b").expect_err("untrusted");
        assert!(err.contains("SMTP localhost:"), "{err}");
        assert!(sink.messages.lock().unwrap().is_empty());
        let mut e = settings(sink.port, security);
        e.insecure = true;
        orchestrator::alerts::send_email(&e, "s", "b")
            .unwrap_or_else(|err| panic!("{security:?} insecure: {err}"));
        assert_eq!(sink.messages.lock().unwrap().len(), 1);
        let _ = &sink.tls_errors;
    }
}

#[test]
fn a_bad_ca_file_is_a_clear_error() {
    let mut e = settings(1, SmtpSecurity::Starttls);
    e.ca_file = Some(fixture("missing.pem"));
    let err = orchestrator::alerts::send_email(&e, "s", "b").expect_err("missing");
    assert!(
        err.contains("ca_file") && err.contains("missing.pem"),
        "{err}"
    );
}
