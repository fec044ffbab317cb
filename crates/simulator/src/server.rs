//! The HTTP face of the simulator: `/historical` and `/flights` as FlightLabs
//! serves them, errors included.
//!
//! Order of checks, as a provider does it: authentication (401, and nothing
//! else is counted or logged with the key), then the rate limit (429), then
//! injected faults, then parameter validation (HTTP 200 with
//! `success: false`, the provider's habit), then data. Data is generated on
//! the blocking pool: a big hub's day takes a few milliseconds of CPU and
//! must not stall other connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use flightlabs::{Direction, SlidingWindow};
use serde_json::{json, Value};

use crate::airports::{self, Airport};
use crate::faults::{self, canonical_request, FaultKind, RequestDraw};
use crate::generate::{self, Clock};
use crate::positions::{self, DEFAULT_LIMIT, MAX_LIMIT};
use crate::SimulatorConfig;

/// Longest window the provider accepts for `date_from`/`date_to`.
const MAX_WINDOW_MIN: i64 = 12 * 60;
/// How far ahead the provider has schedules.
const MAX_DAYS_AHEAD: i64 = 365;

pub(crate) struct AppState {
    config: SimulatorConfig,
    limiter: Option<SlidingWindow>,
    /// Times each canonical request was seen, for fault draws.
    seen: Mutex<HashMap<String, u64>>,
    /// When the server started: the simulated clock runs from here.
    started: std::time::Instant,
}

impl AppState {
    fn new(config: SimulatorConfig) -> Self {
        AppState {
            limiter: config.rate_limit.map(SlidingWindow::new),
            config,
            seen: Mutex::new(HashMap::new()),
            started: std::time::Instant::now(),
        }
    }

    /// How many times `canonical` was seen before this request.
    fn next_occurrence(&self, canonical: &str) -> u64 {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let n = seen.entry(canonical.to_string()).or_insert(0);
        let current = *n;
        *n += 1;
        current
    }

    fn clock(&self) -> Clock {
        match self.config.today {
            Some(d) => Clock::Pinned(d),
            None => Clock::At(Utc::now()),
        }
    }

    /// The instant for positions: the real time of day, on the pinned
    /// "today" if there is one, so both endpoints agree on the date.
    fn position_now(&self) -> DateTime<Utc> {
        if let Some(clock) = self.config.clock {
            return clock.at(self.started.elapsed());
        }
        let now = Utc::now();
        match self.config.today {
            Some(d) => d.and_time(now.time()).and_utc(),
            None => now,
        }
    }
}

pub(crate) fn router(config: SimulatorConfig) -> Router {
    let state = Arc::new(AppState::new(config));
    Router::new()
        .route("/historical", get(historical))
        .route("/flights", get(flights))
        .fallback(not_found)
        .with_state(state)
}

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// An answer before faults: status and JSON body.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Answer {
            status: StatusCode::OK,
            body,
        }
    }

    /// The provider reports request errors with HTTP 200 and success false.
    fn error(code: &str, message: &str) -> Self {
        Answer::ok(error_body(code, message))
    }
}

fn error_body(code: &str, message: &str) -> Value {
    json!({"success": false, "error": {"code": code, "message": message}})
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

async fn not_found(uri: Uri) -> Response {
    tracing::info!(path = uri.path(), status = 404, "unknown endpoint");
    json_response(
        StatusCode::NOT_FOUND,
        &error_body("not_found", "This API endpoint does not exist."),
    )
}

async fn historical(
    State(state): State<Arc<AppState>>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    handle(state, "/historical", query, Endpoint::Historical).await
}

async fn flights(
    State(state): State<Arc<AppState>>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    handle(state, "/flights", query, Endpoint::Flights).await
}

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Historical,
    Flights,
}

async fn handle(
    state: Arc<AppState>,
    path: &'static str,
    query: Result<Query<Params>, QueryRejection>,
    endpoint: Endpoint,
) -> Response {
    // An undecodable query is treated as an empty one: the caller then gets
    // the provider's "missing key" answer rather than a framework 400.
    let params: Params = query.map(|Query(p)| p).unwrap_or_default();
    let canonical = canonical_request(path, &params);

    // Authentication. The key is compared, never logged nor echoed.
    let unauthorized = match (param(&params, "access_key"), &state.config.access_key) {
        (None, _) => Some((
            "missing_access_key",
            "You have not supplied an API Access Key.",
        )),
        (Some(given), Some(expected)) if given != expected.as_str() => Some((
            "invalid_access_key",
            "You have not supplied a valid API Access Key.",
        )),
        _ => None,
    };
    if let Some((code, message)) = unauthorized {
        tracing::info!(request = %canonical, status = 401, code, "rejected");
        return json_response(StatusCode::UNAUTHORIZED, &error_body(code, message));
    }

    let occurrence = state.next_occurrence(&canonical);

    if let Some(limiter) = &state.limiter {
        if let Err(wait) = limiter.try_acquire() {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            tracing::info!(request = %canonical, status = 429, retry_after = secs, "rate limited");
            return rate_limited(
                secs,
                "Your request rate limit has been reached. Please slow down.",
            );
        }
    }

    let draw = RequestDraw::new(state.config.seed, &canonical, occurrence);
    let fault = draw.request_fault(&state.config.faults);
    match fault {
        Some(FaultKind::RateLimited) => {
            tracing::info!(request = %canonical, fault = "429", "injected fault");
            return rate_limited(
                1,
                "Your monthly or per-second request limit has been reached.",
            );
        }
        Some(FaultKind::ServerError) => {
            tracing::info!(request = %canonical, fault = "500", "injected fault");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Internal Server Error",
            )
                .into_response();
        }
        Some(FaultKind::Timeout) => {
            tracing::info!(request = %canonical, fault = "timeout", delay = ?state.config.timeout_delay, "injected fault");
            tokio::time::sleep(state.config.timeout_delay).await;
        }
        _ => {}
    }

    let worker = Arc::clone(&state);
    let answer = tokio::task::spawn_blocking(move || match endpoint {
        Endpoint::Historical => historical_answer(&worker, &params, draw),
        Endpoint::Flights => flights_answer(&worker, &params, draw),
    })
    .await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(request = %canonical, error = %e, "generator task failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
        }
    };
    let mut bytes = Bytes::from(serde_json::to_vec(&answer.body).unwrap_or_default());
    if fault == Some(FaultKind::MalformedJson) {
        bytes.truncate(bytes.len() / 2);
    }
    let len = bytes.len();
    let body = match fault {
        Some(FaultKind::Truncate) => faults::truncated_body(bytes),
        Some(FaultKind::Reset) => faults::reset_body(),
        _ => Body::from(bytes),
    };
    if let Some(kind) = fault.filter(|k| {
        matches!(
            k,
            FaultKind::Truncate | FaultKind::Reset | FaultKind::MalformedJson
        )
    }) {
        tracing::info!(request = %canonical, fault = kind.name(), "injected fault");
    } else {
        tracing::info!(request = %canonical, status = answer.status.as_u16(), bytes = len, "answered");
    }
    let mut response = Response::new(body);
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

fn rate_limited(retry_after_secs: u64, message: &str) -> Response {
    let mut r = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &error_body("rate_limit_reached", message),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    r
}

// ---------------------------------------------------------------- /historical

/// The day form (`date`) or the window form (`date_from`/`date_to`), as
/// local times at the airport, both bounds inclusive.
fn parse_range(params: &Params) -> Result<(NaiveDateTime, NaiveDateTime), Answer> {
    let date = param(params, "date");
    let from = param(params, "date_from");
    let to = param(params, "date_to");
    match (date, from, to) {
        (Some(d), None, None) => {
            let d = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                Answer::error("invalid_date", "The date must be given as YYYY-MM-DD.")
            })?;
            let start = d.and_hms_opt(0, 0, 0).unwrap_or_default();
            let end = d.and_hms_opt(23, 59, 0).unwrap_or_default();
            Ok((start, end))
        }
        (None, Some(f), Some(t)) => {
            let bad = || {
                Answer::error(
                    "invalid_date_range",
                    "date_from and date_to must be given as YYYY-MM-DDTHH:MM.",
                )
            };
            let from = parse_local(f).ok_or_else(bad)?;
            let to = parse_local(t).ok_or_else(bad)?;
            if from > to {
                return Err(Answer::error(
                    "invalid_date_range",
                    "date_from must not be after date_to.",
                ));
            }
            if (to - from).num_minutes() > MAX_WINDOW_MIN {
                return Err(Answer::error(
                    "invalid_date_range",
                    "The time range between date_from and date_to must not exceed 12 hours.",
                ));
            }
            Ok((from, to))
        }
        (None, None, None) => Err(Answer::error(
            "invalid_date",
            "A date, or date_from and date_to, is required.",
        )),
        _ => Err(Answer::error(
            "invalid_date_range",
            "Give either date, or both date_from and date_to.",
        )),
    }
}

/// `2024-08-12T00:00` (seconds and a space separator tolerated), truncated to
/// the minute.
fn parse_local(s: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .and_then(|t| t.with_second(0))
}

fn lookup_airport(code: Option<&str>) -> Result<&'static Airport, Answer> {
    let code =
        code.ok_or_else(|| Answer::error("invalid_airport", "An airport code is required."))?;
    airports::by_iata(code)
        .ok_or_else(|| Answer::error("invalid_airport", "The airport code is not valid."))
}

fn historical_answer(state: &AppState, params: &Params, draw: RequestDraw) -> Answer {
    match historical_data(state, params) {
        Ok(records) => {
            let mut data: Vec<Value> = records
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                .collect();
            let broken = draw.corrupt(&mut data, state.config.faults.malformed_record);
            if broken > 0 {
                tracing::info!(records = broken, "injected malformed records");
            }
            Answer::ok(json!({"success": true, "status": 200, "data": data}))
        }
        Err(a) => a,
    }
}

fn historical_data(
    state: &AppState,
    params: &Params,
) -> Result<Vec<flightlabs::HistoricalRecord>, Answer> {
    let airport = lookup_airport(param(params, "code"))?;
    let direction = param(params, "type")
        .and_then(Direction::parse)
        .ok_or_else(|| Answer::error("invalid_type", "The type must be arrival or departure."))?;
    let (from, to) = parse_range(params)?;
    let clock = state.clock();
    let (today, _) = clock.resolve(airport.time_zone());
    if from.date() > today + Duration::days(MAX_DAYS_AHEAD) {
        return Err(Answer::error(
            "invalid_date",
            "The date must not be more than one year in the future.",
        ));
    }
    Ok(generate::window(
        state.config.seed,
        state.config.day_shape,
        airport,
        direction,
        from,
        to,
        clock,
    ))
}

// ---------------------------------------------------------------- /flights

fn flights_answer(state: &AppState, params: &Params, draw: RequestDraw) -> Answer {
    let dep = param(params, "depIata");
    let arr = param(params, "arrIata");
    if dep.is_none() && arr.is_none() {
        return Answer::error("missing_parameter", "depIata or arrIata is required.");
    }
    let resolve = |code: Option<&str>| -> Result<Option<&'static Airport>, Answer> {
        match code {
            None => Ok(None),
            Some(c) => lookup_airport(Some(c)).map(Some),
        }
    };
    let (dep, arr) = match (resolve(dep), resolve(arr)) {
        (Ok(d), Ok(a)) => (d, a),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let limit = param(params, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, MAX_LIMIT);
    let q = positions::Query { dep, arr, limit };
    let positions = positions::positions(
        state.config.seed,
        state.config.day_shape,
        q,
        state.position_now(),
    );
    let mut data: Vec<Value> = positions
        .iter()
        .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
        .collect();
    let broken = draw.corrupt_positions(&mut data, state.config.faults.malformed_record);
    if broken > 0 {
        tracing::info!(records = broken, "injected malformed positions");
    }
    Answer::ok(json!({"success": true, "data": data}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_http::{self, Served};

    fn config() -> SimulatorConfig {
        SimulatorConfig {
            today: NaiveDate::from_ymd_opt(2024, 9, 1),
            access_key: Some("k".into()),
            ..SimulatorConfig::default()
        }
    }

    async fn get(server: &Served, uri: &str) -> (StatusCode, Value, HashMap<String, String>) {
        let res = test_http::get(server.addr, uri).await;
        let v = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
        (StatusCode::from_u16(res.status).unwrap(), v, res.headers)
    }

    async fn router(config: SimulatorConfig) -> Served {
        Served::start(config).await
    }

    #[tokio::test]
    async fn day_form_answers_records() {
        let r = router(config()).await;
        let (s, v, h) = get(
            &r,
            "/historical?access_key=k&code=BOG&type=arrival&date=2024-08-12",
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["success"], true);
        assert_eq!(v["status"], 200);
        assert!(v["data"].as_array().unwrap().len() > 250);
        assert_eq!(h["content-type"], "application/json");
    }

    #[tokio::test]
    async fn validation_errors_are_http_200() {
        let r = router(config()).await;
        let cases = [
            ("code=XXX&type=arrival&date=2024-08-12", "invalid_airport"),
            ("type=arrival&date=2024-08-12", "invalid_airport"),
            ("code=BOG&type=both&date=2024-08-12", "invalid_type"),
            ("code=BOG&date=2024-08-12", "invalid_type"),
            ("code=BOG&type=arrival&date=12/08/2024", "invalid_date"),
            ("code=BOG&type=arrival", "invalid_date"),
            ("code=BOG&type=arrival&date=2026-01-01", "invalid_date"),
            (
                "code=BOG&type=arrival&date_from=2024-08-12T00:00&date_to=2024-08-12T12:01",
                "invalid_date_range",
            ),
            (
                "code=BOG&type=arrival&date_from=2024-08-12T10:00&date_to=2024-08-12T09:00",
                "invalid_date_range",
            ),
            (
                "code=BOG&type=arrival&date_from=2024-08-12T10:00",
                "invalid_date_range",
            ),
            (
                "code=BOG&type=arrival&date_from=yesterday&date_to=2024-08-12T09:00",
                "invalid_date_range",
            ),
        ];
        for (q, code) in cases {
            let (s, v, _) = get(&r, &format!("/historical?access_key=k&{q}")).await;
            assert_eq!(s, StatusCode::OK, "{q}");
            assert_eq!(v["success"], false, "{q}");
            assert_eq!(v["error"]["code"], code, "{q}");
        }
        // Exactly twelve hours is allowed.
        let (_, v, _) = get(
            &r,
            "/historical?access_key=k&code=BOG&type=arrival&date_from=2024-08-12T00:00&date_to=2024-08-12T12:00",
        )
        .await;
        assert_eq!(v["success"], true);
    }

    #[tokio::test]
    async fn keys_are_checked_and_never_echoed() {
        let r = router(config()).await;
        let (s, v, _) = get(&r, "/historical?code=BOG&type=arrival&date=2024-08-12").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(v["error"]["code"], "missing_access_key");
        let (s, v, _) = get(&r, "/flights?access_key=&depIata=BOG").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(v["error"]["code"], "missing_access_key");
        let (s, v, _) = get(
            &r,
            "/historical?access_key=sekrit-XYZ&code=BOG&type=arrival&date=2024-08-12",
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(v["error"]["code"], "invalid_access_key");
        assert!(!v.to_string().contains("sekrit-XYZ"));
        // Any non-empty key when none is configured.
        let open = router(SimulatorConfig {
            access_key: None,
            ..config()
        })
        .await;
        let (s, v, _) = get(&open, "/flights?access_key=whatever&depIata=BOG").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["success"], true);
    }

    #[tokio::test]
    async fn flights_endpoint() {
        let r = router(config()).await;
        let (_, v, _) = get(&r, "/flights?access_key=k&depIata=BOG&limit=5").await;
        assert_eq!(v["success"], true);
        assert!(v["data"].as_array().unwrap().len() <= 5);
        let (_, v, _) = get(&r, "/flights?access_key=k").await;
        assert_eq!(v["error"]["code"], "missing_parameter");
        let (_, v, _) = get(&r, "/flights?access_key=k&arrIata=ZZZ").await;
        assert_eq!(v["error"]["code"], "invalid_airport");
        let (s, v, _) = get(&r, "/nope?access_key=k").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(v["success"], false);
    }

    #[tokio::test]
    async fn injected_429_has_retry_after_and_retry_is_a_new_draw() {
        let r = router(SimulatorConfig {
            faults: "429=0.5".parse().unwrap(),
            ..config()
        })
        .await;
        let mut outcomes = Vec::new();
        for _ in 0..40 {
            let (s, v, h) = get(
                &r,
                "/historical?access_key=k&code=MVP&type=arrival&date=2024-08-12",
            )
            .await;
            if s == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(h["retry-after"], "1");
                assert_eq!(v["error"]["code"], "rate_limit_reached");
            } else {
                assert_eq!(v["success"], true);
            }
            outcomes.push(s);
        }
        let limited = outcomes
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert!((8..32).contains(&limited), "{limited}");
        // A fresh server with the same seed replays the same sequence.
        let again = router(SimulatorConfig {
            faults: "429=0.5".parse().unwrap(),
            ..config()
        })
        .await;
        // Parameter order does not matter: the canonical request is sorted.
        for expected in outcomes {
            let (s, _, _) = get(
                &again,
                "/historical?code=MVP&access_key=k&type=arrival&date=2024-08-12",
            )
            .await;
            assert_eq!(s, expected);
        }
    }

    #[tokio::test]
    async fn malformed_records_lack_fields() {
        let r = router(SimulatorConfig {
            faults: "malformed_record=0.2".parse().unwrap(),
            ..config()
        })
        .await;
        let (_, v, _) = get(
            &r,
            "/historical?access_key=k&code=BOG&type=departure&date=2024-08-12",
        )
        .await;
        let data = v["data"].as_array().unwrap();
        let without_number = data
            .iter()
            .filter(|r| r.is_object() && r.get("number").is_none())
            .count();
        let garbage = data.iter().filter(|r| r.is_string()).count();
        assert!(
            without_number > 0 && garbage > 0,
            "{without_number} {garbage}"
        );
    }

    #[tokio::test]
    async fn server_rate_limit_counts_requests() {
        let r = router(SimulatorConfig {
            rate_limit: Some("3/60".parse().unwrap()),
            ..config()
        })
        .await;
        for _ in 0..3 {
            let (s, _, _) = get(&r, "/flights?access_key=k&depIata=MVP").await;
            assert_eq!(s, StatusCode::OK);
        }
        let (s, v, h) = get(&r, "/flights?access_key=k&depIata=MVP").await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(v["error"]["code"], "rate_limit_reached");
        let secs: u64 = h["retry-after"].parse().unwrap();
        assert!((1..=60).contains(&secs));
        // Unauthenticated requests are not counted (nor admitted).
        let (s, _, _) = get(&r, "/flights?depIata=MVP").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn local_times_parse_to_minutes() {
        let t = parse_local("2024-08-12T11:59:30").unwrap();
        assert_eq!(t.to_string(), "2024-08-12 11:59:00");
        assert!(parse_local("2024-08-12").is_none());
        assert!(parse_local("2024-08-12 07:05").is_some());
    }
}
