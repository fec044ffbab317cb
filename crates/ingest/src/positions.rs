//! Real-time positions in the warehouse: bronze `flightlabs_positions`, and
//! silver `real_time_planes` with its `latest_positions` view.
//!
//! Why the bronze writer keeps a silver table: positions are worth most in
//! the first seconds after a poll, and a model build per poll would cost
//! more than the poll. Silver rows are inserted in the same transaction as
//! the bronze rows they come from, so silver never lags, never holds a row
//! bronze lacks, and a killed process leaves both or neither. The dbt-format
//! project must declare `silver.real_time_planes` as a source, not build it.
//!
//! Keys: a position is identified by (`hex`, `updated`): the aircraft and the
//! time of its signal. Polls closer together than the provider's refresh
//! return the same key again; only the first observation enters silver
//! (insert where the key is new), and [`rebuild_silver`] reproduces exactly
//! that from bronze.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use warehouse::duckdb;
use warehouse::duckdb::{params, Appender, Connection};

use crate::error::Result;
use crate::landing::LandedFile;

/// The typed fields of a position record ([`Position`]) as columns, in one
/// place for bronze and silver: silver's copies of them must keep bronze's
/// names and types, since silver is filled by `INSERT ... SELECT` from bronze.
/// A macro, not a `const`, so that `concat!` can splice it into the DDL.
macro_rules! position_columns {
    () => {
        r#"
    hex           VARCHAR NOT NULL,
    reg_number    VARCHAR,
    flag          VARCHAR,
    lat           DOUBLE NOT NULL,
    lng           DOUBLE NOT NULL,
    alt           DOUBLE,
    dir           DOUBLE,
    speed         DOUBLE,
    v_speed       DOUBLE,
    squawk        VARCHAR,
    flight_number VARCHAR,
    flight_icao   VARCHAR,
    flight_iata   VARCHAR,
    dep_icao      VARCHAR,
    dep_iata      VARCHAR,
    arr_icao      VARCHAR,
    arr_iata      VARCHAR,
    airline_icao  VARCHAR,
    airline_iata  VARCHAR,
    aircraft_icao VARCHAR,
    updated       BIGINT NOT NULL,
    status        VARCHAR,
    "type"        VARCHAR,
"#
    };
}

pub const SCHEMA_SQL: &str = concat!(
    r#"
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE TABLE IF NOT EXISTS bronze.flightlabs_positions (
    landing_file  VARCHAR NOT NULL,
    record_index  INTEGER NOT NULL,
    source        VARCHAR NOT NULL,
    fetched_at    TIMESTAMPTZ,
    airport       VARCHAR NOT NULL,
    direction     VARCHAR NOT NULL,
    poll_date     DATE NOT NULL,"#,
    position_columns!(),
    // zstd for the same reason as bronze's records (see bronze::SCHEMA_SQL)
    r#"    record        JSON USING COMPRESSION zstd NOT NULL,
    loaded_at     TIMESTAMPTZ NOT NULL
);
CREATE SCHEMA IF NOT EXISTS silver;
CREATE TABLE IF NOT EXISTS silver.real_time_planes ("#,
    position_columns!(),
    r#"    updated_timestamp TIMESTAMPTZ NOT NULL,
    polled_at     TIMESTAMPTZ,
    landing_file  VARCHAR NOT NULL,
    record_index  INTEGER NOT NULL
);
CREATE VIEW IF NOT EXISTS silver.latest_positions AS
SELECT * FROM silver.real_time_planes
QUALIFY row_number() OVER (
    PARTITION BY hex ORDER BY updated DESC, polled_at DESC, landing_file DESC
) = 1;
"#
);

/// Silver's columns computed from a bronze row `n`.
const SILVER_SELECT: &str = r#"
SELECT n.hex, n.reg_number, n.flag, n.lat, n.lng, n.alt, n.dir, n.speed, n.v_speed,
       n.squawk, n.flight_number, n.flight_icao, n.flight_iata, n.dep_icao, n.dep_iata,
       n.arr_icao, n.arr_iata, n.airline_icao, n.airline_iata, n.aircraft_icao,
       n.updated, n.status, n."type", to_timestamp(n.updated) AS updated_timestamp,
       n.fetched_at AS polled_at, n.landing_file, n.record_index
FROM bronze.flightlabs_positions n
"#;

/// The first observation of each key, in bronze's order of observation.
const FIRST_OBSERVATION: &str = "QUALIFY row_number() OVER (
    PARTITION BY n.hex, n.updated ORDER BY n.fetched_at, n.landing_file, n.record_index) = 1";

/// Unix seconds a signal time may take: 2000-01-01 .. 2100-01-01.
const UPDATED_RANGE: std::ops::RangeInclusive<i64> = 946_684_800..=4_102_444_800;

/// The typed fields of a position record.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub hex: String,
    pub reg_number: Option<String>,
    pub flag: Option<String>,
    pub lat: f64,
    pub lng: f64,
    pub alt: Option<f64>,
    pub dir: Option<f64>,
    pub speed: Option<f64>,
    pub v_speed: Option<f64>,
    pub squawk: Option<String>,
    pub flight_number: Option<String>,
    pub flight_icao: Option<String>,
    pub flight_iata: Option<String>,
    pub dep_icao: Option<String>,
    pub dep_iata: Option<String>,
    pub arr_icao: Option<String>,
    pub arr_iata: Option<String>,
    pub airline_icao: Option<String>,
    pub airline_iata: Option<String>,
    pub aircraft_icao: Option<String>,
    pub updated: i64,
    pub status: Option<String>,
    pub kind: Option<String>,
}

/// Text as the provider may send it: a string (empty = none) or a number
/// (squawks and flight numbers come both ways).
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number, or a string holding one.
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

fn coordinate(o: &serde_json::Map<String, Value>, key: &str, limit: f64) -> Result<f64, String> {
    let v = o
        .get(key)
        .filter(|v| !v.is_null())
        .ok_or_else(|| format!("missing `{key}`"))?;
    let x = number(Some(v)).ok_or_else(|| format!("`{key}` is not a number: {v}"))?;
    if x.abs() > limit {
        return Err(format!("`{key}` out of range: {x}"));
    }
    Ok(x)
}

/// Checks what silver needs of a position (an aircraft, a signal time, a
/// place) and types its fields; the reason otherwise, for quarantine.
pub fn probe_position(raw: &str) -> std::result::Result<Position, String> {
    let value: Value =
        serde_json::from_str(raw).map_err(|_| "record is not valid JSON".to_string())?;
    let o = value
        .as_object()
        .ok_or_else(|| "record is not a JSON object".to_string())?;
    let hex = text(o.get("hex")).ok_or_else(|| "missing `hex`".to_string())?;
    let updated_v = o
        .get("updated")
        .filter(|v| !v.is_null())
        .ok_or_else(|| "missing `updated`".to_string())?;
    let updated = number(Some(updated_v))
        .filter(|x| x.fract() == 0.0)
        .map(|x| x as i64)
        .filter(|t| UPDATED_RANGE.contains(t))
        .ok_or_else(|| format!("`updated` is not a unix time: {updated_v}"))?;
    let lat = coordinate(o, "lat", 90.0)?;
    let lng = coordinate(o, "lng", 180.0)?;
    Ok(Position {
        hex,
        reg_number: text(o.get("reg_number")),
        flag: text(o.get("flag")),
        lat,
        lng,
        alt: number(o.get("alt")),
        dir: number(o.get("dir")),
        speed: number(o.get("speed")),
        v_speed: number(o.get("v_speed")),
        squawk: text(o.get("squawk")),
        flight_number: text(o.get("flight_number")),
        flight_icao: text(o.get("flight_icao")),
        flight_iata: text(o.get("flight_iata")),
        dep_icao: text(o.get("dep_icao")),
        dep_iata: text(o.get("dep_iata")),
        arr_icao: text(o.get("arr_icao")),
        arr_iata: text(o.get("arr_iata")),
        airline_icao: text(o.get("airline_icao")),
        airline_iata: text(o.get("airline_iata")),
        aircraft_icao: text(o.get("aircraft_icao")),
        updated,
        status: text(o.get("status")),
        kind: text(o.get("type")),
    })
}

/// Appends one record of a landed poll to bronze.
pub(crate) fn append(
    rows: &mut Appender<'_>,
    file: &LandedFile,
    index: usize,
    p: &Position,
    raw: &str,
    loaded_at: DateTime<Utc>,
) -> duckdb::Result<()> {
    let m = &file.meta;
    rows.append_row(params![
        file.rel,
        index as i64,
        m.source.as_str(),
        m.fetched_at,
        m.airport,
        m.direction.map(|d| d.as_str()).unwrap_or(""),
        m.date,
        p.hex,
        p.reg_number,
        p.flag,
        p.lat,
        p.lng,
        p.alt,
        p.dir,
        p.speed,
        p.v_speed,
        p.squawk,
        p.flight_number,
        p.flight_icao,
        p.flight_iata,
        p.dep_icao,
        p.dep_iata,
        p.arr_icao,
        p.arr_iata,
        p.airline_icao,
        p.airline_iata,
        p.aircraft_icao,
        p.updated,
        p.status,
        p.kind,
        raw,
        loaded_at
    ])
}

/// Inserts into silver the positions of `files` (loaded at `loaded_at`)
/// whose key silver does not hold yet; returns how many.
///
/// `min_updated` (the smallest signal time among them) bounds the scan of
/// silver for existing keys: silver grows in time order, so DuckDB's zone
/// maps skip all but its last row groups and a poll stays fast however
/// long the table gets.
pub(crate) fn insert_new(
    conn: &Connection,
    files: &[&str],
    loaded_at: DateTime<Utc>,
    min_updated: i64,
) -> Result<u64> {
    let sql = format!(
        "INSERT INTO silver.real_time_planes {SILVER_SELECT}
         WHERE n.loaded_at = ?
           AND n.landing_file IN (SELECT unnest(string_split(?, chr(10))))
           AND NOT EXISTS (
               SELECT 1 FROM silver.real_time_planes s
               WHERE s.updated >= ? AND s.hex = n.hex AND s.updated = n.updated)
         {FIRST_OBSERVATION}
         ORDER BY n.updated, n.hex"
    );
    let n = conn.execute(&sql, params![loaded_at, files.join("\n"), min_updated])?;
    Ok(n as u64)
}

/// Recomputes silver from bronze: what replay does after reloading.
pub fn rebuild_silver(conn: &Connection) -> Result<u64> {
    conn.execute_batch("BEGIN TRANSACTION; DELETE FROM silver.real_time_planes;")?;
    let sql = format!(
        "INSERT INTO silver.real_time_planes {SILVER_SELECT} {FIRST_OBSERVATION} ORDER BY n.updated, n.hex"
    );
    match conn.execute(&sql, []) {
        Ok(n) => {
            conn.execute_batch("COMMIT")?;
            Ok(n as u64)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e.into())
        }
    }
}

/// Deletes bronze positions polled on days in `[from, to]` (UTC).
pub(crate) fn clear(conn: &Connection, from: NaiveDate, to: NaiveDate) -> Result<()> {
    conn.execute(
        "DELETE FROM bronze.flightlabs_positions WHERE poll_date BETWEEN ? AND ?",
        params![from, to],
    )?;
    Ok(())
}

/// Row counts for `tarmac ingest status`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PositionCounts {
    pub bronze: u64,
    pub silver: u64,
    pub aircraft: u64,
    pub last_updated: Option<DateTime<Utc>>,
}

pub fn counts(conn: &Connection) -> Result<PositionCounts> {
    let q =
        |sql: &str| -> Result<u64> { Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
    Ok(PositionCounts {
        bronze: q("SELECT count(*) FROM bronze.flightlabs_positions")?,
        silver: q("SELECT count(*) FROM silver.real_time_planes")?,
        aircraft: q("SELECT count(DISTINCT hex) FROM silver.real_time_planes")?,
        last_updated: conn.query_row(
            "SELECT max(updated_timestamp) FROM silver.real_time_planes",
            [],
            |r| r.get::<_, Option<DateTime<Utc>>>(0),
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"hex":"AAE597","reg_number":"N801AC","flag":"US","lat":40.890578,
        "lng":7.602979,"alt":11632,"dir":276.2,"speed":831,"v_speed":0,"squawk":1234,
        "flight_number":"719","flight_icao":"AAL719","flight_iata":"AA719","dep_icao":"LIRF",
        "dep_iata":"FCO","arr_icao":"KPHL","arr_iata":"PHL","airline_icao":"AAL",
        "airline_iata":"AA","aircraft_icao":"B788","updated":1711378587,"status":"en-route",
        "type":"adsb"}"#;

    #[test]
    fn probes_the_documented_example() {
        let p = probe_position(GOOD).unwrap();
        assert_eq!(p.hex, "AAE597");
        assert_eq!(p.updated, 1_711_378_587);
        assert_eq!((p.lat, p.lng), (40.890578, 7.602979));
        assert_eq!(p.alt, Some(11632.0));
        assert_eq!(p.squawk.as_deref(), Some("1234"), "numbers become text");
        assert_eq!(p.kind.as_deref(), Some("adsb"));
        assert_eq!(p.flag.as_deref(), Some("US"));
    }

    #[test]
    fn tolerates_what_providers_do() {
        let p = probe_position(
            r#"{"hex":"ABC123","lat":"4.7","lng":-74.1,"updated":1711378587.0,
                "alt":null,"squawk":"","status":"landed"}"#,
        )
        .unwrap();
        assert_eq!(p.lat, 4.7);
        assert_eq!(p.alt, None);
        assert_eq!(p.squawk, None);
        assert_eq!(p.reg_number, None);
    }

    #[test]
    fn quarantine_reasons() {
        let cases = [
            (r#""garbage""#, "record is not a JSON object"),
            (r#"{"lat":1,"lng":1,"updated":1711378587}"#, "missing `hex`"),
            (
                r#"{"hex":" ","lat":1,"lng":1,"updated":1711378587}"#,
                "missing `hex`",
            ),
            (r#"{"hex":"A","lat":1,"lng":1}"#, "missing `updated`"),
            (
                r#"{"hex":"A","lat":1,"lng":1,"updated":"soon"}"#,
                "`updated` is not a unix time: \"soon\"",
            ),
            (
                r#"{"hex":"A","lat":1,"lng":1,"updated":1711378587123}"#,
                "`updated` is not a unix time: 1711378587123",
            ),
            (
                r#"{"hex":"A","lng":1,"updated":1711378587}"#,
                "missing `lat`",
            ),
            (
                r#"{"hex":"A","lat":"n/a","lng":1,"updated":1711378587}"#,
                "`lat` is not a number: \"n/a\"",
            ),
            (
                r#"{"hex":"A","lat":1,"lng":181,"updated":1711378587}"#,
                "`lng` out of range: 181",
            ),
        ];
        for (raw, reason) in cases {
            assert_eq!(probe_position(raw).unwrap_err(), reason, "{raw}");
        }
    }
}

#[cfg(test)]
mod load_tests {
    use crate::bronze::Bronze;
    use crate::landing::{Endpoint, LandingMeta, LandingZone};
    use chrono::{DateTime, Utc};
    use flightlabs::Direction;

    fn poll(zone: &LandingZone, at: &str, direction: Direction, body: &str) -> crate::LandedFile {
        let at: DateTime<Utc> = at.parse().unwrap();
        let meta = LandingMeta {
            request: Some("http://x/flights?access_key=***&depIata=BOG".into()),
            http_status: Some(200),
            fetched_at: Some(at),
            ..LandingMeta::api(Endpoint::Flights, "BOG", direction, at.date_naive())
        };
        zone.land(meta, body.as_bytes()).unwrap().unwrap()
    }

    fn rec(hex: &str, updated: i64, lat: f64) -> String {
        format!(
            r#"{{"hex":"{hex}","lat":{lat},"lng":-74.1,"updated":{updated},"status":"en-route"}}"#
        )
    }

    fn q(b: &Bronze, sql: &str) -> i64 {
        b.connection().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn silver_gets_each_position_once_and_replay_agrees() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path().join("landing")).unwrap();
        let mut bronze = Bronze::open(&dir.path().join("w.duckdb")).unwrap();
        let body = |recs: &[String]| format!(r#"{{"success":true,"data":[{}]}}"#, recs.join(","));
        // Poll 1: departures and arrivals overlap in one aircraft, one record is bad.
        let dep = body(&[
            rec("AAA111", 1_711_378_500, 4.0),
            rec("BBB222", 1_711_378_510, 5.0),
        ]);
        let arr = body(&[
            rec("BBB222", 1_711_378_510, 5.0),
            r#"{"hex":"CCC"}"#.to_string(),
        ]);
        let f1 = poll(
            &zone,
            "2024-03-25T15:00:00.000Z",
            Direction::Departure,
            &dep,
        );
        let f2 = poll(&zone, "2024-03-25T15:00:00.100Z", Direction::Arrival, &arr);
        let s = bronze
            .load(&[
                (&f1, dep.as_bytes()),
                (&f2, arr.as_bytes()),
                (&f1, dep.as_bytes()),
            ])
            .unwrap();
        assert_eq!((s.files, s.records, s.quarantined, s.skipped), (2, 3, 1, 1));
        assert_eq!(s.new_positions, 2);
        // Poll 2: one aircraft moved, the other did not report again.
        let dep2 = body(&[
            rec("AAA111", 1_711_378_560, 4.1),
            rec("BBB222", 1_711_378_510, 5.0),
        ]);
        let f3 = poll(
            &zone,
            "2024-03-25T15:01:00.000Z",
            Direction::Departure,
            &dep2,
        );
        let s = bronze.load(&[(&f3, dep2.as_bytes())]).unwrap();
        assert_eq!((s.records, s.new_positions), (2, 1));
        assert_eq!(
            q(&bronze, "SELECT count(*) FROM silver.real_time_planes"),
            3
        );
        assert_eq!(
            q(&bronze, "SELECT count(*) FROM silver.latest_positions WHERE hex = 'AAA111' AND updated = 1711378560 AND lat = 4.1"),
            1
        );
        assert_eq!(
            q(&bronze, "SELECT count(*) FROM silver.latest_positions"),
            2
        );
        // The first observation is the one kept.
        assert_eq!(
            q(&bronze, "SELECT count(*) FROM silver.real_time_planes WHERE hex = 'BBB222' AND landing_file LIKE '%type=departure/%T150000.000Z%'"),
            1
        );
        assert_eq!(
            q(&bronze, "SELECT count(*) FROM bronze.quarantine WHERE reason = 'missing `updated`' AND record_index = 1"),
            1
        );
        let silver_keys = |b: &Bronze| -> Vec<(String, i64, String)> {
            b.connection()
                .prepare(
                    "SELECT hex, updated, landing_file FROM silver.real_time_planes ORDER BY ALL",
                )
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let before = silver_keys(&bronze);
        let stats = crate::replay(&zone, &mut bronze, None, None).unwrap();
        assert_eq!((stats.files, stats.records), (3, 5));
        let after = silver_keys(&bronze);
        assert_eq!(before, after);
        assert_eq!(bronze.position_counts().unwrap().bronze, 5);
    }
}
