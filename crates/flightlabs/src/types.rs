//! Wire types of the FlightLabs API.
//!
//! Historical records are kept as [`serde_json::Value`] everywhere past the
//! envelope: the provider adds and drops optional keys without notice, and the
//! landing zone must keep what was received, not what we understood. The typed
//! [`HistoricalRecord`] is used by the simulator to produce data and by tests.

use serde::{Deserialize, Serialize};

/// Direction of a movement, seen from the queried airport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Arrival,
    Departure,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Arrival, Direction::Departure];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Arrival => "arrival",
            Direction::Departure => "departure",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        match s.trim().to_ascii_lowercase().as_str() {
            "arrival" | "arrivals" => Some(Direction::Arrival),
            "departure" | "departures" => Some(Direction::Departure),
            _ => None,
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{"utc": "2024-08-12 17:00Z", "local": "2024-08-12 12:00-05:00"}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovementTime {
    pub utc: String,
    pub local: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AirportRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icao: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iata: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// The queried airport's side of a movement; `airport` is the *other* end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Movement {
    pub airport: AirportRef,
    pub scheduled_time: MovementTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revised_time: Option<MovementTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runway_time: Option<MovementTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baggage_belt: Option<String>,
    pub quality: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Aircraft {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode_s: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Airline {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iata: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icao: Option<String>,
}

/// One record of `/historical` (AeroDataBox style).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoricalRecord {
    pub movement: Movement,
    pub number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_sign: Option<String>,
    pub status: String,
    pub codeshare_status: String,
    pub is_cargo: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aircraft: Option<Aircraft>,
    pub airline: Airline,
}

/// One record of `/flights` (real-time positions), flat as the provider sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionRecord {
    pub hex: String,
    pub reg_number: Option<String>,
    pub flag: Option<String>,
    pub lat: f64,
    pub lng: f64,
    /// metres
    pub alt: f64,
    pub dir: f64,
    /// km/h
    pub speed: f64,
    pub v_speed: f64,
    pub squawk: Option<String>,
    pub flight_number: Option<String>,
    pub flight_iata: Option<String>,
    pub flight_icao: Option<String>,
    pub dep_iata: Option<String>,
    pub dep_icao: Option<String>,
    pub arr_iata: Option<String>,
    pub arr_icao: Option<String>,
    pub airline_iata: Option<String>,
    pub airline_icao: Option<String>,
    pub aircraft_icao: Option<String>,
    /// unix seconds
    pub updated: i64,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The error object of a `success: false` envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    #[serde(default)]
    pub code: Option<serde_json::Value>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub info: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Envelope of every FlightLabs answer: `{"success": true, "status": 200, "data": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Envelope<T> {
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<T>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiErrorBody>,
}
