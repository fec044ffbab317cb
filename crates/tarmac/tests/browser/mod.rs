//! Headless Chromium for the end-to-end tests of web pages (the docs
//! catalog, the orchestrator's UI): Debian's `chromium`, driven over the
//! DevTools protocol with a small client. Tests skip with a clear message
//! where Chromium is absent; `.ci/run` installs it.

#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether Chromium is installed; prints why a test skips when not. Under
/// `CI=true` a missing Chromium fails the test instead: CI installs it, so
/// its absence there is a broken setup, not a reason to skip.
pub fn available(test: &str) -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {CHROMIUM} is absent and CI=true (.ci/run installs it)");
    }
    println!(
        "SKIPPED {test}: {CHROMIUM} is absent (Debian: apt-get install -y chromium); \
         .ci/run installs it"
    );
    false
}

/// The Chromium process, killed when the test ends, however it ends.
pub struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A page of a fresh headless Chromium, attached and ready for `navigate`.
pub fn open_page(profile: &Path) -> (Browser, Cdp) {
    let (browser, ws) = chromium(profile);
    let mut cdp = Cdp::connect(&ws);
    let target = cdp.call("Target.createTarget", json!({"url": "about:blank"}));
    let attached = cdp.call(
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    cdp.session = Some(attached["sessionId"].as_str().unwrap().to_string());
    cdp.call("Page.enable", json!({}));
    cdp.call("Runtime.enable", json!({}));
    (browser, cdp)
}

/// Where screenshots go: `crates/tarmac/tests/artifacts/` (git-ignored), so
/// they sit beside the tests that take them, whatever the target dir is.
pub fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts")
}

/// Saves a PNG screenshot of the viewport as `tests/artifacts/NAME`.
pub fn screenshot(cdp: &mut Cdp, name: &str) -> PathBuf {
    let shot = cdp.call("Page.captureScreenshot", json!({"format": "png"}));
    let png = base64_decode(shot["data"].as_str().unwrap());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, &png).unwrap();
    println!("screenshot: {}", file.display());
    file
}

/// The width every page must fit without a horizontal scrollbar.
pub const WIDTH: u32 = 1280;

/// Makes the page a desktop window `WIDTH` wide.
pub fn desktop(cdp: &mut Cdp) {
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": WIDTH, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
}

/// `None` when the document fits its window; else what sticks out: the
/// widths and the innermost elements whose right edge passes the window,
/// so a failure names its culprit.
pub fn overflow(cdp: &mut Cdp) -> Option<String> {
    let v = cdp.eval(
        "(() => { const d = document.documentElement;
           if (d.scrollWidth <= d.clientWidth) return null;
           const out = [];
           for (const e of document.body.querySelectorAll('*')) {
             const r = e.getBoundingClientRect();
             if (r.right <= d.clientWidth + 0.5 || r.width === 0) continue;
             if ([...e.children].some(c => c.getBoundingClientRect().right > d.clientWidth + 0.5)) continue;
             out.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
               (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : '') +
               ' (right edge ' + Math.round(r.right) + ' px)');
             if (out.length >= 5) break;
           }
           return 'scrollWidth ' + d.scrollWidth + ' > clientWidth ' + d.clientWidth + ': ' + out.join(', ');
         })()",
    );
    v.as_str().map(str::to_string)
}

/// Opens `url` at `WIDTH` px, waits for `ready` (a JS expression), saves a
/// screenshot as `NAME.png` and returns the page's horizontal overflow, if
/// any, as `NAME: …`.
pub fn visit(cdp: &mut Cdp, url: &str, ready: &str, name: &str) -> Option<String> {
    desktop(cdp);
    cdp.call("Page.navigate", json!({ "url": url }));
    cdp.wait_for(ready, name);
    // let layout settle (fonts, the graph's SVG)
    std::thread::sleep(Duration::from_millis(300));
    screenshot(cdp, &format!("{name}.png"));
    overflow(cdp).map(|o| format!("{name} ({url}): {o}"))
}

/// A minimal Chrome DevTools protocol client over one websocket, using
/// flattened sessions (`sessionId` on each message).
pub struct Cdp {
    ws: tungstenite::WebSocket<TcpStream>,
    next: u64,
    pub session: Option<String>,
}

impl Cdp {
    pub fn connect(ws_url: &str) -> Cdp {
        let hostport = ws_url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap();
        let stream = TcpStream::connect(hostport).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (ws, _) = tungstenite::client(ws_url, stream).expect("websocket handshake");
        Cdp {
            ws,
            next: 0,
            session: None,
        }
    }

    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(tungstenite::Message::text(msg.to_string()))
            .unwrap();
        loop {
            let m = self.ws.read().expect("DevTools message");
            let tungstenite::Message::Text(t) = m else {
                continue;
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == json!(id) {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    /// Evaluate an expression in the page (promises awaited) and return its value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Poll `expr` until it is truthy.
    pub fn wait_for(&mut self, expr: &str, what: &str) -> Value {
        let t0 = Instant::now();
        // the page may be between documents: a failing expression is "not yet"
        let guarded =
            format!("(() => {{ try {{ return ({expr}); }} catch (e) {{ return null; }} }})()");
        loop {
            let v = self.eval(&guarded);
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let page = self.eval("document.body.innerText.slice(0, 2000)");
                panic!("timed out waiting for {what} ({expr}); page:\n{page}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A real mouse click at viewport coordinates.
    pub fn click_at(&mut self, x: f64, y: f64) {
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Click the centre of the first element matching a CSS selector.
    pub fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null;
               e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
               return [r.left + r.width / 2, r.top + r.height / 2]; }})()",
            sel = json!(selector)
        );
        let p = self.wait_for(&js, selector);
        self.click_at(p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
    }
}

/// Start Chromium with a fresh profile; returns it and its DevTools URL.
pub fn chromium(profile: &Path) -> (Browser, String) {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        }
    });
    let killed = Browser(child);
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("chromium did not print its DevTools URL within 30 s");
    (killed, url)
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => 0,
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &c)| acc | (val(c) << (18 - 6 * i)));
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let take = 3usize
            .saturating_sub(pad)
            .min(chunk.len().saturating_sub(1));
        for i in 0..take {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
