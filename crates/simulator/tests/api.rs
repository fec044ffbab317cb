//! The simulator as a real server on 127.0.0.1:0, hit with a raw HTTP/1.1
//! client: what goes over the wire is what a FlightLabs client will see,
//! including bodies cut short by injected faults.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use flightlabs::{Direction, Envelope, HistoricalRecord, PositionRecord};
use serde_json::Value;
use simulator::{historical_day, SimulatorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Server {
    addr: SocketAddr,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn start(config: SimulatorConfig) -> Server {
    let (addr, handle) = simulator::spawn(config).await.expect("bind 127.0.0.1:0");
    Server { addr, handle }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 9, 1).unwrap()
}

fn config() -> SimulatorConfig {
    SimulatorConfig {
        seed: 42,
        access_key: Some("test-key".into()),
        today: Some(today()),
        ..SimulatorConfig::default()
    }
}

#[derive(Debug)]
struct Raw {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    /// The connection ended with an error rather than a clean close.
    aborted: bool,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn content_length(&self) -> Option<usize> {
        self.headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
    }
}

/// GET with `Connection: close`; reads until the server closes or breaks
/// the connection, keeping whatever arrived.
async fn get(addr: SocketAddr, path_and_query: &str) -> Raw {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut aborted = false;
    loop {
        match s.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {
                aborted = true;
                break;
            }
        }
    }
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match split {
        Some(i) => (
            String::from_utf8_lossy(&buf[..i]).to_string(),
            buf[i + 4..].to_vec(),
        ),
        None => (String::from_utf8_lossy(&buf).to_string(), Vec::new()),
    };
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Raw {
        status,
        headers,
        body,
        aborted,
    }
}

const DAY: &str = "/historical?access_key=test-key&code=BOG&type=arrival&date=2024-08-12";

#[tokio::test]
async fn day_form_is_deterministic_and_matches_the_library() {
    let a = start(config()).await;
    let b = start(config()).await;
    let other = start(SimulatorConfig {
        seed: 7,
        ..config()
    })
    .await;
    let ra = get(a.addr, DAY).await;
    let rb = get(b.addr, DAY).await;
    let rc = get(other.addr, DAY).await;
    assert_eq!(ra.status, 200);
    assert_eq!(ra.body, rb.body, "same seed, same bytes");
    assert_ne!(ra.body, rc.body, "another seed, other data");
    assert_eq!(ra.content_length(), Some(ra.body.len()));

    // Envelope<T> needs T: Default (serde's `default` bound), so records go
    // through Value, as the ingest path keeps them.
    let env: Envelope<Value> = serde_json::from_slice(&ra.body).expect("envelope");
    assert_eq!(env.success, Some(true));
    assert_eq!(env.status, Some(200));
    let data: Vec<HistoricalRecord> = env
        .data
        .expect("data")
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("typed record"))
        .collect();
    let date = NaiveDate::from_ymd_opt(2024, 8, 12).unwrap();
    let lib = historical_day(42, "BOG", Direction::Arrival, date, today()).unwrap();
    assert_eq!(data, lib, "server and historical_day agree");
    assert!((250..=400).contains(&data.len()), "{}", data.len());
    assert!(data
        .iter()
        .all(|r| r.movement.scheduled_time.local.ends_with("-05:00")));
}

#[tokio::test]
async fn two_windows_make_the_day() {
    let s = start(config()).await;
    for dir in ["arrival", "departure"] {
        let base = format!("/historical?access_key=test-key&code=BOG&type={dir}");
        let day = get(s.addr, &format!("{base}&date=2024-08-12")).await.json();
        let am = get(
            s.addr,
            &format!("{base}&date_from=2024-08-12T00:00&date_to=2024-08-12T11:59"),
        )
        .await
        .json();
        let pm = get(
            s.addr,
            &format!("{base}&date_from=2024-08-12T12:00&date_to=2024-08-12T23:59"),
        )
        .await
        .json();
        let mut union = am["data"].as_array().unwrap().clone();
        union.extend(pm["data"].as_array().unwrap().iter().cloned());
        assert_eq!(&union, day["data"].as_array().unwrap(), "{dir}");
    }
}

#[tokio::test]
async fn provider_errors() {
    let s = start(config()).await;
    let err = |v: Value| v["error"]["code"].as_str().unwrap_or_default().to_string();

    let r = get(
        s.addr,
        "/historical?access_key=test-key&code=QQQ&type=arrival&date=2024-08-12",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["success"], false);
    assert_eq!(err(r.json()), "invalid_airport");

    let r = get(
        s.addr,
        "/historical?access_key=test-key&code=BOG&type=arrival&date_from=2024-08-12T00:00&date_to=2024-08-12T12:30",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(err(r.json()), "invalid_date_range");

    let r = get(s.addr, "/historical?code=BOG&type=arrival&date=2024-08-12").await;
    assert_eq!(r.status, 401);
    assert_eq!(err(r.json()), "missing_access_key");
    assert_eq!(r.json()["success"], false);

    let r = get(
        s.addr,
        "/historical?access_key=WRONG-k3y-123&code=BOG&type=arrival&date=2024-08-12",
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(err(r.json()), "invalid_access_key");
    let everything = format!("{:?}{}", r.headers, String::from_utf8_lossy(&r.body));
    assert!(
        !everything.contains("WRONG-k3y-123"),
        "key echoed: {everything}"
    );
}

#[tokio::test]
async fn injected_429_carries_retry_after() {
    let s = start(SimulatorConfig {
        faults: "429=1".parse().unwrap(),
        ..config()
    })
    .await;
    let r = get(s.addr, DAY).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.headers.get("retry-after").map(String::as_str), Some("1"));
    assert_eq!(r.json()["error"]["code"], "rate_limit_reached");
    assert_eq!(r.json()["success"], false);
}

#[tokio::test]
async fn injected_500_is_plain() {
    let s = start(SimulatorConfig {
        faults: "500=1".parse().unwrap(),
        ..config()
    })
    .await;
    let r = get(s.addr, DAY).await;
    assert_eq!(r.status, 500);
    assert!(r.json().is_null(), "not JSON");
}

#[tokio::test]
async fn truncate_sends_half_a_body() {
    let s = start(SimulatorConfig {
        faults: "truncate=1".parse().unwrap(),
        ..config()
    })
    .await;
    let r = get(s.addr, DAY).await;
    assert_eq!(r.status, 200);
    let promised = r.content_length().expect("Content-Length of the full body");
    assert!(promised > 1000);
    assert!(r.body.len() < promised, "{} of {promised}", r.body.len());
    assert!(!r.body.is_empty());
    assert!(
        serde_json::from_slice::<Value>(&r.body).is_err(),
        "incomplete JSON"
    );
    assert!(r.aborted || r.body.len() < promised);
}

#[tokio::test]
async fn reset_sends_no_body() {
    let s = start(SimulatorConfig {
        faults: "reset=1".parse().unwrap(),
        ..config()
    })
    .await;
    let r = get(s.addr, DAY).await;
    assert!(r.body.is_empty(), "{} bytes", r.body.len());
    if let Some(promised) = r.content_length() {
        assert!(promised > 0);
    }
}

#[tokio::test]
async fn timeout_stalls_then_answers() {
    let s = start(SimulatorConfig {
        faults: "timeout=1".parse().unwrap(),
        timeout_delay: Duration::from_millis(400),
        ..config()
    })
    .await;
    let t = Instant::now();
    let r = get(s.addr, DAY).await;
    assert!(t.elapsed() >= Duration::from_millis(400));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["success"], true);
}

#[tokio::test]
async fn malformed_records_inside_a_good_answer() {
    let s = start(SimulatorConfig {
        faults: "malformed_record=0.1".parse().unwrap(),
        ..config()
    })
    .await;
    let v = get(s.addr, DAY).await.json();
    assert_eq!(v["success"], true);
    let data = v["data"].as_array().unwrap();
    let no_number = data
        .iter()
        .filter(|r| r.is_object() && r.get("number").is_none())
        .count();
    let typed_ok = data
        .iter()
        .filter(|r| serde_json::from_value::<HistoricalRecord>((*r).clone()).is_ok())
        .count();
    assert!(no_number > 0, "some records lack number");
    assert!(typed_ok < data.len() && typed_ok > data.len() / 2);
}

#[tokio::test]
async fn rate_limit_answers_429_after_n_requests() {
    let s = start(SimulatorConfig {
        rate_limit: Some("5/60".parse().unwrap()),
        ..config()
    })
    .await;
    let q = "/flights?access_key=test-key&depIata=MVP";
    for i in 0..5 {
        assert_eq!(get(s.addr, q).await.status, 200, "request {i}");
    }
    let r = get(s.addr, q).await;
    assert_eq!(r.status, 429);
    let wait: u64 = r.headers["retry-after"].parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(r.json()["error"]["code"], "rate_limit_reached");
}

#[tokio::test]
async fn flights_endpoint_answers_positions() {
    let s = start(SimulatorConfig {
        access_key: None,
        today: None,
        ..config()
    })
    .await;
    let before = chrono::Utc::now().timestamp();
    let r = get(s.addr, "/flights?access_key=anything&arrIata=BOG&limit=20").await;
    assert_eq!(r.status, 200);
    let env: Envelope<Value> = serde_json::from_slice(&r.body).expect("envelope");
    assert_eq!(env.success, Some(true));
    let data: Vec<PositionRecord> = env
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("typed position"))
        .collect();
    assert!(data.len() <= 20);
    for p in &data {
        assert_eq!(p.arr_iata.as_deref(), Some("BOG"));
        assert!(p.updated <= chrono::Utc::now().timestamp() && p.updated > before - 3 * 3600);
    }
}
