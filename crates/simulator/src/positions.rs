//! Real-time positions (`/flights`), derived from the same timetable as the
//! historical data.
//!
//! Nothing is stored between polls: a flight's position is a pure function
//! of (seed, its day's timetable, the wall-clock instant). It leaves its gate
//! at its revised time, takes off ten minutes later, flies the great circle
//! at its own cruise speed (750–850 km/h) with a climb, cruise and descent
//! altitude profile, and lands. So two polls a minute apart show the same
//! aircraft (same `hex`) about 13 km further along its track, which is what a
//! client tracking movements needs to see.
//!
//! `updated` is the time of the aircraft's last signal, not the time of the
//! query: an airborne aircraft reports every [`SIGNAL_PERIOD_S`] seconds on
//! a phase of its own, and the position shown is where it was then; one on
//! the ground keeps the time it was listed (scheduled) or touched down
//! (landed). So polls closer together than the period see the same
//! (`hex`, `updated`) again, as with the real provider, and a consumer must
//! deduplicate on that key. `type` is the signal type (`adsb`), as the
//! provider sends it; the direction is what the query asked for.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use flightlabs::{Direction, PositionRecord};

use crate::airports::{bearing_deg, intermediate_point, Airport};
use crate::generate::{self, reg_country, Clock, DayShape, Flight};
use crate::hash::Hasher;

/// Taxi-out before take-off and taxi-in after landing.
const TAXI_OUT_MIN: i64 = 10;
const TAXI_IN_MIN: i64 = 5;
/// How far ahead scheduled flights are listed, and how long landed ones stay.
const SHOW_SCHEDULED_MIN: i64 = 120;
const SHOW_LANDED_MIN: i64 = 30;

/// How often an airborne aircraft's position is refreshed.
pub const SIGNAL_PERIOD_S: i64 = 60;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

/// Which flights a `/flights` query asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query {
    pub dep: Option<&'static Airport>,
    pub arr: Option<&'static Airport>,
    pub limit: usize,
}

/// One flight's trajectory.
struct Track<'a> {
    flight: &'a Flight,
    from: &'static Airport,
    to: &'static Airport,
    takeoff: DateTime<Utc>,
    airborne_s: f64,
    distance_km: f64,
}

impl Track<'_> {
    fn landing(&self) -> DateTime<Utc> {
        self.takeoff + Duration::milliseconds((self.airborne_s * 1000.0) as i64)
    }
}

fn airborne_seconds(distance_km: f64, cruise_kmh: f64) -> f64 {
    distance_km / cruise_kmh.max(1.0) * 3600.0
}

/// The last signal at or before `now` of a transmitter on `phase` (seconds
/// into each period).
fn last_signal(now: DateTime<Utc>, phase: i64) -> DateTime<Utc> {
    let ms = now.timestamp_millis();
    let period = SIGNAL_PERIOD_S * 1000;
    let phase = phase.rem_euclid(SIGNAL_PERIOD_S) * 1000;
    let at = (ms - phase).div_euclid(period) * period + phase;
    DateTime::from_timestamp_millis(at).unwrap_or(now)
}

/// Positions for the query at `now`. `clock` decides which days are read.
pub(crate) fn positions(
    seed: u64,
    shape: DayShape,
    q: Query,
    now: DateTime<Utc>,
) -> Vec<PositionRecord> {
    let (base, direction) = match (q.dep, q.arr) {
        (Some(dep), _) => (dep, Direction::Departure),
        (None, Some(arr)) => (arr, Direction::Arrival),
        (None, None) => return Vec::new(),
    };
    let tz = base.time_zone();
    let today = now.with_timezone(&tz).date_naive();
    // Yesterday's long-hauls may still be airborne; for arrivals, so may
    // flights landing tomorrow (local) that left today.
    let mut dates = vec![today - Duration::days(1), today];
    if direction == Direction::Arrival {
        dates.push(today + Duration::days(1));
    }

    let mut days = Vec::new();
    for date in dates {
        days.push(generate::day(
            seed,
            shape,
            base,
            direction,
            date,
            Clock::At(now),
        ));
    }
    let mut tracks: Vec<Track<'_>> = Vec::new();
    for day in &days {
        for f in &day.flights {
            if f.canceled {
                continue;
            }
            let (from, to) = match direction {
                Direction::Departure => (base, f.other),
                Direction::Arrival => (f.other, base),
            };
            if let (Some(dep), Some(arr)) = (q.dep, q.arr) {
                if from.iata != dep.iata || to.iata != arr.iata {
                    continue;
                }
            }
            let distance_km = from.distance_km(to);
            let airborne_s = airborne_seconds(distance_km, f.cruise_kmh);
            let takeoff = match direction {
                Direction::Departure => f.revised() + Duration::minutes(TAXI_OUT_MIN),
                Direction::Arrival => {
                    f.revised()
                        - Duration::minutes(TAXI_IN_MIN)
                        - Duration::milliseconds((airborne_s * 1000.0) as i64)
                }
            };
            tracks.push(Track {
                flight: f,
                from,
                to,
                takeoff,
                airborne_s,
                distance_km,
            });
        }
    }
    tracks.sort_by_key(|t| t.takeoff);

    let mut out = Vec::new();
    let mut hexes = HashSet::new();
    for t in &tracks {
        if out.len() >= q.limit {
            break;
        }
        let Some(p) = position(seed, t, now, &mut hexes) else {
            continue;
        };
        out.push(p);
    }
    out
}

fn position(
    seed: u64,
    t: &Track<'_>,
    now: DateTime<Utc>,
    hexes: &mut HashSet<String>,
) -> Option<PositionRecord> {
    let landing = t.landing();
    let f = t.flight;
    let phase = (Hasher::new("signal-phase")
        .u64(seed)
        .str(&f.reg)
        .u64(f.scheduled.timestamp() as u64)
        .finish()
        % SIGNAL_PERIOD_S as u64) as i64;
    let listed = t.takeoff - Duration::minutes(SHOW_SCHEDULED_MIN);
    let (status, signal) = if now < t.takeoff {
        if now < listed {
            return None;
        }
        ("scheduled", last_signal(listed, phase))
    } else if now < landing {
        ("en-route", last_signal(now, phase).max(t.takeoff))
    } else {
        if (now - landing).num_minutes() > SHOW_LANDED_MIN {
            return None;
        }
        ("landed", last_signal(landing, phase).max(t.takeoff))
    };
    let course = bearing_deg(t.from.lat, t.from.lon, t.to.lat, t.to.lon);
    let (lat, lng, alt, dir, speed, v_speed) = match status {
        "en-route" => {
            let elapsed = (signal - t.takeoff).num_milliseconds() as f64 / 1000.0;
            let frac = (elapsed / t.airborne_s).clamp(0.0, 1.0);
            let (lat, lng) = intermediate_point(t.from.lat, t.from.lon, t.to.lat, t.to.lon, frac);
            let dir = if frac < 0.999 {
                bearing_deg(lat, lng, t.to.lat, t.to.lon)
            } else {
                course
            };
            let (alt, v) = altitude(t.distance_km, t.airborne_s, elapsed);
            (lat, lng, alt, dir, f.cruise_kmh, v)
        }
        "landed" => (t.to.lat, t.to.lon, 0.0, course, 0.0, 0.0),
        _ => (t.from.lat, t.from.lon, 0.0, course, 0.0, 0.0),
    };

    // The transponder address of its tail; if two flights in one answer
    // share a tail, the later one gets an address of its own.
    let mut hex = f.mode_s.clone();
    if !hexes.insert(hex.clone()) {
        let h = Hasher::new("hex")
            .u64(seed)
            .str(f.airline.key)
            .u64(u64::from(f.digits.unwrap_or(0)))
            .u64(f.scheduled.timestamp() as u64)
            .finish();
        hex = format!("{:06X}", h & 0xff_ffff);
        hexes.insert(hex.clone());
    }
    let squawk = Hasher::new("squawk")
        .u64(seed)
        .str(&f.reg)
        .u64(f.scheduled.timestamp() as u64)
        .finish()
        % 4096;
    let digits = f.digits.map(|d| d.to_string());
    let iata = f.airline.iata;
    let icao = f.airline.icao;
    Some(PositionRecord {
        hex,
        reg_number: Some(f.reg.clone()),
        flag: reg_country(&f.reg).map(str::to_string),
        lat: round(lat, 5),
        lng: round(lng, 5),
        alt: alt.round(),
        dir: dir.round() % 360.0,
        speed: speed.round(),
        v_speed: round(v_speed, 1),
        squawk: Some(format!("{squawk:04o}")),
        flight_number: digits.clone(),
        flight_iata: iata.zip(digits.as_ref()).map(|(a, d)| format!("{a}{d}")),
        flight_icao: icao.zip(digits.as_ref()).map(|(a, d)| format!("{a}{d}")),
        dep_iata: Some(t.from.iata.to_string()),
        dep_icao: Some(t.from.icao.to_string()),
        arr_iata: Some(t.to.iata.to_string()),
        arr_icao: Some(t.to.icao.to_string()),
        airline_iata: iata.map(str::to_string),
        airline_icao: icao.map(str::to_string),
        aircraft_icao: f.model.and_then(type_designator).map(str::to_string),
        updated: signal.timestamp(),
        status: status.to_string(),
        kind: "adsb".to_string(),
    })
}

/// Altitude (m) and vertical speed (m/s) `elapsed` seconds after take-off:
/// climb, cruise, descent. Short hops cruise lower.
fn altitude(distance_km: f64, airborne_s: f64, elapsed: f64) -> (f64, f64) {
    let cruise = (3000.0 + distance_km * 12.0).clamp(5000.0, 11_600.0);
    let climb = (20.0 * 60.0f64).min(airborne_s * 0.35).max(1.0);
    let descent = (25.0 * 60.0f64).min(airborne_s * 0.40).max(1.0);
    let remaining = airborne_s - elapsed;
    if elapsed < climb {
        (cruise * elapsed / climb, cruise / climb)
    } else if remaining < descent {
        (cruise * remaining.max(0.0) / descent, -cruise / descent)
    } else {
        (cruise, 0.0)
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (x * m).round() / m
}

/// ICAO type designator of a model name as the historical endpoint spells it.
pub(crate) fn type_designator(model: &str) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("Airbus A320 NEO", "A20N"),
        ("Airbus A320 (Sharklets)", "A320"),
        ("Airbus A320", "A320"),
        ("Airbus A319", "A319"),
        ("Airbus A321", "A321"),
        ("Airbus A220-300", "BCS3"),
        ("Airbus A330-300", "A333"),
        ("Airbus A330", "A332"),
        ("Airbus A340", "A343"),
        ("Airbus A350", "A359"),
        ("ATR 72", "AT76"),
        ("ATR 42", "AT43"),
        ("Embraer RJ145", "E145"),
        ("Boeing 737 MAX 8", "B38M"),
        ("Boeing 737-400", "B734"),
        ("Boeing 737-700", "B737"),
        ("Boeing 737", "B738"),
        ("Boeing 757", "B752"),
        ("Boeing 767", "B763"),
        ("Boeing 777-300", "B77W"),
        ("Boeing 777", "B77W"),
        ("Boeing 787-9", "B789"),
        ("Boeing 787-10", "B78X"),
        ("Boeing 787", "B788"),
        ("Boeing 747", "B744"),
        ("Boeing 727", "B721"),
        ("Gulfstream", "GLF4"),
    ];
    TABLE
        .iter()
        .find(|(p, _)| model.starts_with(p))
        .map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airports::{by_iata, distance_km};
    use chrono::TimeZone;

    fn q(dep: Option<&str>, arr: Option<&str>) -> Query {
        Query {
            dep: dep.and_then(by_iata),
            arr: arr.and_then(by_iata),
            limit: MAX_LIMIT,
        }
    }

    /// 2024-08-12 20:00 in Bogotá: the afternoon bank is in the air.
    fn evening() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 8, 13, 1, 0, 0).unwrap()
    }

    /// At 09:00 in Bogotá the archive's afternoon-only days have next to
    /// nothing in the air out of BOG; a realistic day has its morning bank.
    #[test]
    fn realistic_mornings_fly() {
        let morning = Utc.with_ymd_and_hms(2024, 8, 12, 14, 0, 0).unwrap();
        let en_route = |shape| {
            positions(42, shape, q(Some("BOG"), None), morning)
                .iter()
                .filter(|p| p.status == "en-route")
                .count()
        };
        let (archive, realistic) = (en_route(DayShape::Archive), en_route(DayShape::Realistic));
        assert!(
            realistic > 10 && realistic > 5 * archive,
            "{realistic} vs {archive}"
        );
    }

    #[test]
    fn aircraft_move_between_polls() {
        let t0 = evening();
        let t1 = t0 + Duration::seconds(60);
        let a = positions(42, DayShape::Archive, q(Some("BOG"), None), t0);
        let b = positions(42, DayShape::Archive, q(Some("BOG"), None), t1);
        let en_route: Vec<_> = a.iter().filter(|p| p.status == "en-route").collect();
        assert!(en_route.len() > 10, "{}", en_route.len());
        let mut compared = 0;
        for p in en_route {
            let Some(later) = b.iter().find(|x| x.hex == p.hex) else {
                continue;
            };
            if later.status != "en-route" {
                continue;
            }
            let moved = distance_km(p.lat, p.lng, later.lat, later.lng);
            assert!((11.0..16.0).contains(&moved), "{} moved {moved} km", p.hex);
            assert_eq!(p.flight_iata, later.flight_iata);
            compared += 1;
        }
        assert!(compared > 10);
        for p in &b {
            assert!(p.updated <= t1.timestamp(), "{p:?}");
            if p.status == "en-route" {
                assert!(p.updated > t1.timestamp() - SIGNAL_PERIOD_S, "{p:?}");
            }
        }
    }

    #[test]
    fn updated_is_the_last_signal() {
        let t0 = evening();
        let a = positions(42, DayShape::Archive, q(Some("BOG"), None), t0);
        // Ten seconds later most aircraft have not reported again: same key.
        let b = positions(
            42,
            DayShape::Archive,
            q(Some("BOG"), None),
            t0 + Duration::seconds(10),
        );
        assert_eq!(a.len(), b.len());
        let same = a.iter().filter(|p| b.contains(p)).count();
        assert!(same * 2 > a.len(), "{same} of {}", a.len());
        assert!(same < a.len(), "some aircraft reported within 10 s");
        // Whatever has the same key has the same position.
        for p in &a {
            if let Some(later) = b.iter().find(|x| x.hex == p.hex && x.updated == p.updated) {
                assert_eq!((p.lat, p.lng, p.alt), (later.lat, later.lng, later.alt));
            }
        }
        // Grounded aircraft keep their time while they wait or taxi.
        let c = positions(
            42,
            DayShape::Archive,
            q(Some("BOG"), None),
            t0 + Duration::minutes(5),
        );
        for p in a.iter().filter(|p| p.status != "en-route") {
            if let Some(later) = c.iter().find(|x| x.hex == p.hex && x.status == p.status) {
                assert_eq!(later.updated, p.updated, "{}", p.hex);
            }
        }
        assert_eq!(
            last_signal(DateTime::from_timestamp(1000, 0).unwrap(), 7).timestamp(),
            967
        );
        assert_eq!(
            last_signal(DateTime::from_timestamp(967, 0).unwrap(), 7).timestamp(),
            967
        );
    }

    #[test]
    fn positions_are_deterministic_and_plausible() {
        let t = evening();
        let a = positions(7, DayShape::Archive, q(Some("BOG"), None), t);
        assert_eq!(a, positions(7, DayShape::Archive, q(Some("BOG"), None), t));
        assert_ne!(a, positions(8, DayShape::Archive, q(Some("BOG"), None), t));
        for p in &a {
            assert_eq!(p.dep_iata.as_deref(), Some("BOG"));
            assert_eq!(p.kind, "adsb");
            assert!(["en-route", "landed", "scheduled"].contains(&p.status.as_str()));
            assert!((0.0..=12_000.0).contains(&p.alt));
            assert!((0.0..360.0).contains(&p.dir));
            assert_eq!(p.hex.len(), 6);
            if p.status == "en-route" {
                assert!((750.0..=850.0).contains(&p.speed));
            }
            let sq = p.squawk.as_deref().unwrap();
            assert!(sq.len() == 4 && sq.chars().all(|c| ('0'..='7').contains(&c)));
        }
        let hexes: HashSet<_> = a.iter().map(|p| &p.hex).collect();
        assert_eq!(hexes.len(), a.len());
    }

    #[test]
    fn heading_points_at_the_destination() {
        let a = positions(
            42,
            DayShape::Archive,
            q(Some("BOG"), Some("MAD")),
            evening() + Duration::hours(3),
        );
        let p = a
            .iter()
            .find(|p| p.status == "en-route")
            .expect("a BOG-MAD flight in the air");
        // Madrid is north-east of Bogotá; the initial great-circle course is about 50°.
        assert!((20.0..80.0).contains(&p.dir), "{}", p.dir);
        assert!(p.alt > 9000.0);
        assert!(a.iter().all(|p| p.arr_iata.as_deref() == Some("MAD")));
    }

    #[test]
    fn arrivals_and_limits() {
        let a = positions(42, DayShape::Archive, q(None, Some("BOG")), evening());
        assert!(!a.is_empty());
        assert!(a
            .iter()
            .all(|p| p.arr_iata.as_deref() == Some("BOG") && p.kind == "adsb"));
        let limited = positions(
            42,
            DayShape::Archive,
            Query {
                limit: 3,
                ..q(None, Some("BOG"))
            },
            evening(),
        );
        assert_eq!(limited.len(), 3);
        assert!(positions(42, DayShape::Archive, q(None, None), evening()).is_empty());
    }

    #[test]
    fn altitude_profile() {
        let air = airborne_seconds(8000.0, 800.0);
        assert_eq!(altitude(8000.0, air, 0.0).0, 0.0);
        assert!(altitude(8000.0, air, 600.0).1 > 0.0);
        assert_eq!(altitude(8000.0, air, air / 2.0), (11_600.0, 0.0));
        assert!(altitude(8000.0, air, air - 60.0).1 < 0.0);
        let short = airborne_seconds(220.0, 800.0);
        assert!(altitude(220.0, short, short / 2.0).0 <= 6000.0);
    }

    #[test]
    fn designators() {
        assert_eq!(type_designator("Airbus A320 NEO"), Some("A20N"));
        assert_eq!(type_designator("Airbus A320"), Some("A320"));
        assert_eq!(type_designator("Boeing 787-9"), Some("B789"));
        assert_eq!(type_designator("Boeing 787-8"), Some("B788"));
        assert_eq!(type_designator("Zeppelin"), None);
    }
}
