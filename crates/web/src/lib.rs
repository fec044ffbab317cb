//! One security model for every web server of the binary (`docs serve`,
//! `orchestrate`): the same rules, in one axum layer.
//!
//! - **Bind rule** ([`check_bind`]): loopback by default; any other address
//!   needs a token, or the server refuses to start.
//! - **Host check**: a server on loopback answers only requests whose Host
//!   names a loopback address and its port, so a DNS-rebinding page (an
//!   attacker's name that resolves to 127.0.0.1) gets 403.
//! - **Token**: when set, every request carries it as `Authorization: Bearer`,
//!   or in the `tarmac_token` cookie that `?token=` on a GET sets (HttpOnly,
//!   SameSite=Strict); compared in constant time.
//! - **Origin**: a request that changes state (not GET/HEAD) carries the
//!   bearer token or comes from the server's own pages (`Origin`, or
//!   `Sec-Fetch-Site: same-origin`), so another site cannot post a form.
//! - **Headers** on every answer: a CSP that allows only the server's own
//!   scripts and styles (inline ones included: the pages are ours), no
//!   framing (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), `nosniff`,
//!   and no referrer.
//!
//! It also holds the one stylesheet both servers serve ([`CSS`], at
//! [`CSS_PATH`]): the catalog and the orchestrator look alike because they
//! share it, and it lives here because both crates already depend on this
//! one (neither depends on the other).

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// Tarmac's shared stylesheet: colours, header, tables, badges, buttons,
/// code blocks, and the orchestrator's timeline, log and grid.
pub const CSS: &str = include_str!("assets/tarmac.css");

/// Where both servers serve [`CSS`] (the catalog's static site writes it
/// beside its pages under the same relative name, `assets/tarmac.css`).
pub const CSS_PATH: &str = "/assets/tarmac.css";

/// The handler that answers [`CSS_PATH`].
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CSS,
    )
        .into_response()
}

/// The Content-Security-Policy of every page.
pub const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What the layer enforces for one server.
#[derive(Debug, Clone)]
pub struct Policy {
    token: Option<String>,
    loopback: bool,
    port: u16,
}

impl Policy {
    /// The policy of a server bound to `local` (its real address, after an
    /// ephemeral port was chosen). An empty token counts as none.
    pub fn new(local: SocketAddr, token: Option<String>) -> Policy {
        Policy {
            token: token.filter(|t| !t.is_empty()),
            loopback: local.ip().is_loopback(),
            port: local.port(),
        }
    }
}

/// Refuses to serve on a non-loopback address without a token. `what` names
/// the flag that sets the address, for the message.
pub fn check_bind(addr: SocketAddr, token: Option<&str>, what: &str) -> Result<(), String> {
    if !addr.ip().is_loopback() && token.is_none_or(str::is_empty) {
        return Err(format!(
            "{what} {addr} is not a loopback address: give --token (or TARMAC_UI_TOKEN) so the server is not open to anyone on the network"
        ));
    }
    Ok(())
}

/// `router` behind the policy.
pub fn protect<S: Clone + Send + Sync + 'static>(router: Router<S>, policy: Policy) -> Router<S> {
    router.layer(middleware::from_fn_with_state(policy, guard))
}

fn eq_ct(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(status: StatusCode, msg: &str) -> Response {
    let mut r = (status, msg.to_string()).into_response();
    headers(&mut r);
    r
}

fn headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

async fn guard(State(p): State<Policy>, req: Request, next: Next) -> Response {
    let headers_in = req.headers();
    let host = headers_in
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    if p.loopback {
        let ok = [
            format!("127.0.0.1:{}", p.port),
            format!("localhost:{}", p.port),
            format!("[::1]:{}", p.port),
        ];
        if !ok.contains(&host) {
            return refuse(StatusCode::FORBIDDEN, "unexpected Host header");
        }
    }
    let bearer = headers_in
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let mut set_cookie = None;
    if let Some(token) = &p.token {
        let cookie = headers_in
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("tarmac_token=").map(str::to_string));
        let query_token = req.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("token=").map(str::to_string))
        });
        let good = |t: &Option<String>| {
            t.as_deref()
                .is_some_and(|t| eq_ct(t.as_bytes(), token.as_bytes()))
        };
        if good(&query_token) && req.method() == Method::GET {
            set_cookie = Some(format!(
                "tarmac_token={token}; HttpOnly; SameSite=Strict; Path=/"
            ));
        } else if !good(&bearer) && !good(&cookie) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "a token is required: open the page with ?token=… or send Authorization: Bearer …",
            );
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let token_header = p.token.is_some() && bearer.is_some();
        // `Origin: null` is what a browser sends for a form POST from a page
        // whose Referrer-Policy is `no-referrer` (ours): it says nothing, so
        // Sec-Fetch-Site decides, as when there is no Origin at all.
        let origin = headers_in
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .filter(|o| *o != "null");
        let same_origin = match origin {
            Some(o) => o == format!("http://{host}") || o == format!("https://{host}"),
            None => {
                headers_in
                    .get("sec-fetch-site")
                    .and_then(|v| v.to_str().ok())
                    == Some("same-origin")
            }
        };
        if !token_header && !same_origin {
            return refuse(
                StatusCode::FORBIDDEN,
                "cross-site request refused: use the page's own buttons, or send the token",
            );
        }
    }
    let mut resp = next.run(req).await;
    if let Some(c) = set_cookie {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    headers(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    fn app(token: Option<&str>, local: &str) -> Router {
        protect(
            Router::new()
                .route("/", get(|| async { "page" }))
                .route("/act", post(|| async { "done" })),
            Policy::new(local.parse().unwrap(), token.map(str::to_string)),
        )
    }

    async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap) {
        let r = app.clone().oneshot(req).await.unwrap();
        (r.status(), r.headers().clone())
    }

    fn get_req(host: &str, path: &str) -> Request<Body> {
        Request::get(path)
            .header("host", host)
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn loopback_answers_only_loopback_hosts_with_the_headers() {
        let a = app(None, "127.0.0.1:8080");
        let (s, h) = send(&a, get_req("127.0.0.1:8080", "/")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h["content-security-policy"], CSP);
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(
            send(&a, get_req("localhost:8080", "/")).await.0,
            StatusCode::OK
        );
        // DNS rebinding: an attacker's name resolving to 127.0.0.1
        let (s, h) = send(&a, get_req("evil.example:8080", "/")).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(
            send(&a, get_req("127.0.0.1:9999", "/")).await.0,
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test]
    async fn a_token_is_required_and_sets_a_cookie() {
        let a = app(Some("s3cret"), "0.0.0.0:8080");
        assert_eq!(
            send(&a, get_req("host:8080", "/")).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (s, h) = send(&a, get_req("host:8080", "/?token=s3cret")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(h[header::SET_COOKIE].to_str().unwrap().contains("HttpOnly"));
        let with_cookie = Request::get("/")
            .header("host", "host:8080")
            .header("cookie", "a=b; tarmac_token=s3cret")
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&a, with_cookie).await.0, StatusCode::OK);
        let wrong = Request::get("/")
            .header("host", "host:8080")
            .header("authorization", "Bearer nope")
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&a, wrong).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn state_changes_need_the_same_origin_or_the_token() {
        let a = app(None, "127.0.0.1:8080");
        let post_from = |origin: Option<&str>| {
            let mut b = Request::post("/act").header("host", "127.0.0.1:8080");
            if let Some(o) = origin {
                b = b.header("origin", o);
            }
            b.body(Body::empty()).unwrap()
        };
        assert_eq!(
            send(&a, post_from(Some("http://127.0.0.1:8080"))).await.0,
            StatusCode::OK
        );
        assert_eq!(
            send(&a, post_from(Some("http://evil.example"))).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(send(&a, post_from(None)).await.0, StatusCode::FORBIDDEN);
        // a form POST from our own no-referrer page: Origin null, same-origin fetch
        let own_form = |site: &str| {
            Request::post("/act")
                .header("host", "127.0.0.1:8080")
                .header("origin", "null")
                .header("sec-fetch-site", site)
                .body(Body::empty())
                .unwrap()
        };
        assert_eq!(send(&a, own_form("same-origin")).await.0, StatusCode::OK);
        assert_eq!(
            send(&a, own_form("cross-site")).await.0,
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test]
    async fn serves_the_shared_stylesheet() {
        let a = protect(
            Router::new().route(CSS_PATH, get(stylesheet)),
            Policy::new("127.0.0.1:8080".parse().unwrap(), None),
        );
        let r = a
            .oneshot(get_req("127.0.0.1:8080", CSS_PATH))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("--accent:"));
    }

    #[test]
    fn non_loopback_needs_a_token() {
        let any: SocketAddr = "0.0.0.0:80".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert!(check_bind(any, None, "--host").is_err());
        assert!(check_bind(any, Some(""), "--host").is_err());
        assert!(check_bind(any, Some("t"), "--host").is_ok());
        assert!(check_bind(lo, None, "--host").is_ok());
    }
}
