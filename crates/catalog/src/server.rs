//! `tarmac docs serve`: the web catalog over HTTP (axum), on 127.0.0.1
//! unless told otherwise.
//!
//! Routes: `/` (the app), `/assets/*` (compiled in; `assets/tarmac.css` is
//! the stylesheet shared with the orchestrator, from the `web` crate), `/api/index` (what
//! search and the graph need), `/api/node/{id}` (one page), and the raw
//! artifacts (`/manifest.json`, `/catalog.json`, `/run_results.json`,
//! `/column_lineage.json`) for dbt-aware tools. The artifacts are read again
//! when their modification times change, so a `tarmac build` or `docs
//! generate` in another terminal shows on the next click; a missing
//! `target/` is a message on the page, not a dead server.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::error::{Error, Result};
use crate::site::{Artifacts, Site, FILES};

type Stamp = Vec<Option<SystemTime>>;

/// The server's state: where the artifacts are, and the site built from
/// them with the modification times it was built at.
pub struct AppState {
    target: PathBuf,
    cache: Mutex<Option<(Stamp, Arc<Site>)>>,
}

impl AppState {
    pub fn new(target: PathBuf) -> Arc<AppState> {
        Arc::new(AppState {
            target,
            cache: Mutex::new(None),
        })
    }

    fn stamp(&self) -> Stamp {
        FILES
            .iter()
            .map(|f| {
                std::fs::metadata(self.target.join(f))
                    .and_then(|m| m.modified())
                    .ok()
            })
            .collect()
    }

    /// The site for the artifacts as they are now.
    pub fn site(&self) -> Result<Arc<Site>> {
        let stamp = self.stamp();
        if let Ok(cache) = self.cache.lock() {
            if let Some((s, site)) = cache.as_ref() {
                if *s == stamp {
                    return Ok(site.clone());
                }
            }
        }
        if !self.target.is_dir() {
            return Err(Error::Artifact {
                path: self.target.clone(),
                message: "no such directory: run `tarmac docs generate` (or `tarmac build`) in the project first".into(),
            });
        }
        let site = Arc::new(Site::build(&Artifacts::read(&self.target)?));
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((stamp, site.clone()));
        }
        Ok(site)
    }
}

/// The router, without a socket (tests call it directly).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/app.js", get(app_js))
        .route("/assets/app.css", get(app_css))
        .route(web::CSS_PATH, get(web::stylesheet))
        .route("/assets/data.js", get(data_js))
        .route("/api/index", get(api_index))
        .route("/api/node/{id}", get(api_node))
        .route("/{file}", get(artifact))
        .with_state(state)
}

async fn index() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        crate::assets::INDEX_HTML,
    )
        .into_response()
}

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        crate::assets::APP_JS,
    )
        .into_response()
}

async fn app_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        crate::assets::APP_CSS,
    )
        .into_response()
}

/// Served, the app reads the API; the static site's data.js holds the data.
async fn data_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        "window.TARMAC_DATA = null;\n",
    )
        .into_response()
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn load(state: Arc<AppState>) -> std::result::Result<Arc<Site>, Response> {
    match tokio::task::spawn_blocking(move || state.site()).await {
        Ok(Ok(site)) => Ok(site),
        Ok(Err(e)) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

async fn api_index(State(state): State<Arc<AppState>>) -> Response {
    match load(state).await {
        Ok(site) => axum::Json(site.index.clone()).into_response(),
        Err(r) => r,
    }
}

async fn api_node(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> Response {
    match load(state).await {
        Ok(site) => match site.details.get(&id) {
            Some(d) => axum::Json(d.clone()).into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                format!("no node '{id}' in the manifest"),
            ),
        },
        Err(r) => r,
    }
}

async fn artifact(State(state): State<Arc<AppState>>, UrlPath(file): UrlPath<String>) -> Response {
    if !FILES.contains(&file.as_str()) {
        return error(StatusCode::NOT_FOUND, format!("no such page: /{file}"));
    }
    let path = state.target.join(&file);
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, format!("{}: {e}", path.display())),
    }
}

/// Serve until the process ends.
/// Serves the catalog on `listener` behind the binary's one web security
/// layer (`web`): Host check, `token` when given, CSP and frame headers.
pub async fn serve(
    listener: tokio::net::TcpListener,
    target: &Path,
    token: Option<String>,
) -> Result<()> {
    let local = listener
        .local_addr()
        .map_err(|e| Error::Serve(e.to_string()))?;
    let state = AppState::new(target.to_path_buf());
    // build the site now, not on the first page view (a 10,000-model
    // project takes a moment); a missing target/ is reported per request
    let warm = state.clone();
    tokio::task::spawn_blocking(move || {
        let _ = warm.site();
    });
    let app = web::protect(router(state), web::Policy::new(local, token));
    axum::serve(listener, app)
        .await
        .map_err(|e| Error::Serve(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(app: &Router, uri: &str) -> (StatusCode, String) {
        let r = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
        (status, String::from_utf8_lossy(&body).to_string())
    }

    #[tokio::test]
    async fn missing_target_is_a_message() {
        let t = tempfile::tempdir().unwrap();
        let app = router(AppState::new(t.path().join("target")));
        let (st, body) = get(&app, "/").await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("<script src=\"assets/app.js\""), "{body}");
        assert!(body.contains("href=\"assets/tarmac.css\""), "{body}");
        let (st, css) = get(&app, "/assets/tarmac.css").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(css, web::CSS);
        let (st, body) = get(&app, "/api/index").await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body.contains("no such directory: run `tarmac docs generate`"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn serves_index_nodes_and_reloads() {
        let t = tempfile::tempdir().unwrap();
        let a = crate::site::tests::artifacts();
        std::fs::write(
            t.path().join("manifest.json"),
            crate::site::tests::manifest_json().to_string(),
        )
        .unwrap();
        let app = router(AppState::new(t.path().to_path_buf()));
        let (st, body) = get(&app, "/api/index").await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert!(body.contains("\"orders\""));
        let (st, body) = get(&app, "/api/node/model.p.orders").await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("<strong>orders</strong>"), "{body}");
        let (st, _) = get(&app, "/api/node/model.p.nope").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, body) = get(&app, "/manifest.json").await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.starts_with('{'));
        let (st, _) = get(&app, "/secret.txt").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        // a new catalog.json is picked up
        std::fs::write(
            t.path().join("catalog.json"),
            serde_json::to_string(&a.catalog.unwrap()).unwrap(),
        )
        .unwrap();
        let (_, body) = get(&app, "/api/node/model.p.orders").await;
        assert!(body.contains("\"row_count\":42"), "{body}");
    }
}
