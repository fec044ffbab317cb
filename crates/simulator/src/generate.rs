//! Deterministic historical data: what `/historical` answers for one airport,
//! direction and local day.
//!
//! Two layers, so that consecutive days look like a real timetable rather
//! than independent noise:
//! - a **schedule** per (seed, airport, direction): a pool of planned flights
//!   with a fixed local time, airline, number, other end, aircraft model,
//!   codeshare partners and operating weekdays;
//! - a **day** per (seed, airport, direction, date): which planned flights
//!   operate, their outcome (delay, cancellation), tail number and the
//!   provider's quirks (repeats, name-only airports).
//!
//! Each flight of a day draws from its own generator (seeded by the day and
//! its index), so the draws of one flight never shift another's, and nothing
//! but the status-dependent fields changes when "today" moves: the same
//! flight keeps its delay, tail and gate from the day it is in the future to
//! the day it is history.
//!
//! Statuses follow the two eras of the BOG archive (see `calibration.rs`):
//! days before today use the tracked profile with final statuses, today uses
//! the tracked profile with statuses from the clock, days after today the
//! schedule-only profile.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use flightlabs::{
    Aircraft, Airline, AirportRef, Direction, HistoricalRecord, Movement, MovementTime,
};

use crate::airports::{self, Airport, AIRPORTS};
use crate::calibration::{self as cal, AirlineInfo, DelayBuckets};
use crate::hash::{Hasher, Rng};

/// Extra records per physical flight from codeshare copies, measured on the
/// simulator's own BOG schedule (the archive has 3.5 %); used to size the
/// schedule so that *records* per day match the archive.
const CODESHARE_EXTRA: f64 = 0.03;
/// Share of planned flights that operate every day; the rest fly on 3 to 6
/// weekdays. Gives a timetable that repeats weekly, with some day-to-day
/// variation in volume.
const DAILY_SHARE: f64 = 0.8;
const MEAN_OPERATING: f64 = DAILY_SHARE + (1.0 - DAILY_SHARE) * (4.5 / 7.0);

/// Which hours of the local day carry traffic.
///
/// Why two: the BOG archive the simulator is calibrated on was fetched by an
/// old pipeline that asked for the 12:00–23:59 window only, so its days are
/// afternoons. Tests that compare against the archive need exactly that;
/// benchmarks and demos need a day that looks like an airport's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DayShape {
    /// The archive's hourly profile as measured: nearly all traffic in
    /// 12:00–23:59 local. Every pinned output of the simulator is in it.
    #[default]
    Archive,
    /// Both 12 h windows carry traffic: the afternoon as in the archive, the
    /// other hours scaled from it by BOG's declared hourly slots
    /// (`calibration::BOG_SLOTS`), about 1.7 times the archive's records.
    Realistic,
}

impl DayShape {
    pub const ALL: [DayShape; 2] = [DayShape::Archive, DayShape::Realistic];

    pub fn as_str(self) -> &'static str {
        match self {
            DayShape::Archive => "archive",
            DayShape::Realistic => "realistic",
        }
    }

    /// Weight of each local hour, in the archive's unit (records per hour
    /// over its 21 days), so that shapes compare by volume too.
    pub(crate) fn hour_weights(self, direction: Direction) -> [f64; 24] {
        let archive = match direction {
            Direction::Arrival => &cal::HOURS_ARRIVAL,
            Direction::Departure => &cal::HOURS_DEPARTURE,
        };
        let mut w = archive.map(f64::from);
        if self == DayShape::Realistic {
            let afternoon = w[12..].iter().sum::<f64>() / 12.0;
            let slots = cal::BOG_SLOTS.map(f64::from);
            let slot_afternoon = slots[12..].iter().sum::<f64>() / 12.0;
            for (w, slot) in w[..12].iter_mut().zip(slots) {
                *w = afternoon * slot / slot_afternoon;
            }
        }
        w
    }

    /// Records per day relative to the archive's: 1 for the archive shape;
    /// for the realistic one, what its extra hours add.
    pub(crate) fn volume_factor(self, direction: Direction) -> f64 {
        match self {
            DayShape::Archive => 1.0,
            DayShape::Realistic => {
                let archive: f64 = DayShape::Archive.hour_weights(direction).iter().sum();
                self.hour_weights(direction).iter().sum::<f64>() / archive
            }
        }
    }
}

impl std::fmt::Display for DayShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A day shape name that is neither `archive` nor `realistic`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown day shape {0:?}: expected realistic or archive")]
pub struct DayShapeError(pub String);

impl std::str::FromStr for DayShape {
    type Err = DayShapeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DayShape::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| DayShapeError(s.to_string()))
    }
}

/// What "now" means for statuses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clock {
    /// A pinned "today": now is noon of that day in the queried airport's
    /// time zone. Makes every answer reproducible.
    Pinned(NaiveDate),
    /// The given instant; "today" is its local date at the queried airport.
    At(DateTime<Utc>),
}

impl Clock {
    /// (today in the airport's calendar, now).
    pub fn resolve(&self, tz: Tz) -> (NaiveDate, DateTime<Utc>) {
        match *self {
            Clock::Pinned(today) => (today, local_to_utc(tz, today.and_time(noon()))),
            Clock::At(now) => (now.with_timezone(&tz).date_naive(), now),
        }
    }
}

fn noon() -> NaiveTime {
    NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// Local wall-clock time to an instant. Ambiguous times (DST fall-back) take
/// the earlier instant; times in a DST gap move one hour later, as airlines
/// do with schedules.
pub(crate) fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => match tz
            .from_local_datetime(&(local + Duration::hours(1)))
            .earliest()
        {
            Some(t) => t.with_timezone(&Utc),
            None => Utc.from_utc_datetime(&local),
        },
    }
}

/// `{"utc": "2024-08-12 17:00Z", "local": "2024-08-12 12:00-05:00"}` with the
/// local time of the queried airport.
pub(crate) fn movement_time(t: DateTime<Utc>, tz: Tz) -> MovementTime {
    MovementTime {
        utc: t.format("%Y-%m-%d %H:%MZ").to_string(),
        local: t.with_timezone(&tz).format("%Y-%m-%d %H:%M%:z").to_string(),
    }
}

// ---------------------------------------------------------------- schedule

/// One line of the timetable.
#[derive(Debug, Clone)]
struct Planned {
    time: NaiveTime,
    airline: &'static AirlineInfo,
    other: &'static Airport,
    /// Flight number digits; None for airlines without codes.
    digits: Option<u32>,
    model: Option<&'static str>,
    /// Bit 0 = Monday.
    weekdays: u8,
    partners: Vec<(&'static AirlineInfo, Option<u32>)>,
    terminal: String,
    cargo: bool,
    cruise_kmh: f64,
}

fn schedule(
    seed: u64,
    shape: DayShape,
    airport: &'static Airport,
    direction: Direction,
) -> Vec<Planned> {
    let mut rng = Rng::new(
        Hasher::new("schedule")
            .u64(seed)
            .str(airport.iata)
            .str(direction.as_str())
            .finish(),
    );
    let records =
        cal::bog_records_per_day(direction) * airport.size * shape.volume_factor(direction);
    let physical = records / ((1.0 + cal::REPEAT_SHARE) * (1.0 + CODESHARE_EXTRA));
    let planned = physical / MEAN_OPERATING;
    let n = planned.floor() as usize + usize::from(rng.chance(planned.fract()));

    let routes = Routes::for_airport(airport);
    let hours = shape.hour_weights(direction);
    let mut numbers: HashSet<(&str, u32)> = HashSet::new();
    let mut pool = Vec::with_capacity(n);
    for _ in 0..n {
        let Some((airline, other)) = routes.pick(&mut rng, airport) else {
            break;
        };
        let hour = rng.pick_index(&hours, |w| *w).unwrap_or(12) as u32;
        let minute = rng
            .pick_index(&cal::MINUTES, |w| f64::from(*w))
            .unwrap_or(0) as u32;
        let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN);
        let digits = unique_digits(&mut rng, airline, &mut numbers);
        let distance = airport.distance_km(other);
        let model = choose_model(&mut rng, airline, distance);
        let weekdays = if rng.chance(DAILY_SHARE) {
            0x7f
        } else {
            let days = 3 + rng.below(4) as usize;
            let mut mask = 0u8;
            while (mask.count_ones() as usize) < days {
                mask |= 1 << rng.below(7);
            }
            mask
        };
        let mut partners = Vec::new();
        if !airline.partners.is_empty() && rng.chance(airline.codeshare) {
            let count = rng.pick(cal::EXTRA_PARTNERS).copied().unwrap_or(1);
            for _ in 0..count {
                let Some(key) = rng.pick(airline.partners) else {
                    break;
                };
                let Some(p) = cal::airline(key) else { continue };
                if partners
                    .iter()
                    .any(|(q, _): &(&AirlineInfo, _)| q.key == p.key)
                {
                    continue;
                }
                let d = unique_digits(&mut rng, p, &mut numbers);
                partners.push((p, d));
            }
        }
        let terminal = if airport.iata == "BOG" {
            if rng.chance(airline.bog_t2) { "2" } else { "1" }.to_string()
        } else {
            let terminals = terminal_count(airport);
            let h = Hasher::new("terminal")
                .str(airport.iata)
                .str(airline.key)
                .finish();
            (1 + h % terminals).to_string()
        };
        let cargo = rng.chance(airline.cargo);
        let cruise_kmh = 750.0 + rng.below(101) as f64;
        pool.push(Planned {
            time,
            airline,
            other,
            digits,
            model,
            weekdays,
            partners,
            terminal,
            cargo,
            cruise_kmh,
        });
    }
    pool
}

fn terminal_count(airport: &Airport) -> u64 {
    match airport.size {
        s if s < 0.3 => 1,
        s if s < 1.0 => 2,
        s if s < 2.0 => 3,
        _ => 5,
    }
}

fn unique_digits(
    rng: &mut Rng,
    airline: &AirlineInfo,
    used: &mut HashSet<(&'static str, u32)>,
) -> Option<u32> {
    let key: &'static str = airline.key;
    let mut last = None;
    for _ in 0..20 {
        let len = *rng.pick(airline.digits)?;
        let (lo, hi) = match len {
            0 | 1 => (1, 10),
            n => (10u64.pow(n - 1), 10u64.pow(n.min(6))),
        };
        let v = rng.range(lo as i64, hi as i64) as u32;
        last = Some(v);
        if used.insert((key, v)) {
            return Some(v);
        }
    }
    last
}

const WIDEBODY: [&str; 8] = ["787", "777", "767", "747", "A330", "A340", "A350", "A380"];
const REGIONAL: [&str; 2] = ["ATR", "Embraer"];
/// Beyond this, narrow bodies do not fly (an A320 tops out around here).
const LONG_HAUL_KM: f64 = 4500.0;
/// Beyond this, turboprops and regional jets do not fly.
const REGIONAL_MAX_KM: f64 = 1500.0;

fn is_widebody(model: &str) -> bool {
    WIDEBODY.iter().any(|w| model.contains(w))
}

fn choose_model(rng: &mut Rng, airline: &AirlineInfo, distance_km: f64) -> Option<&'static str> {
    let fits = |m: &str| {
        let regional = REGIONAL.iter().any(|r| m.contains(r));
        if distance_km > LONG_HAUL_KM {
            is_widebody(m)
        } else if distance_km > REGIONAL_MAX_KM {
            !regional
        } else {
            true
        }
    };
    let fitting: Vec<(&'static str, u32)> = airline
        .models
        .iter()
        .copied()
        .filter(|(m, _)| fits(m))
        .collect();
    let table: &[(&'static str, u32)] = if fitting.is_empty() {
        airline.models
    } else {
        &fitting
    };
    rng.pick(table).copied()
}

/// Where flights of a queried airport go, and with whom.
enum Routes {
    /// BOG: the archive's own (airline, other end) mix.
    Bog(Vec<(&'static AirlineInfo, &'static Airport, u32)>),
    /// Anywhere else: a gravity model over the airport table.
    Generic(Vec<(&'static Airport, f64)>),
}

impl Routes {
    fn for_airport(airport: &'static Airport) -> Routes {
        if airport.iata == "BOG" {
            let table = cal::BOG_ROUTES
                .iter()
                .filter_map(|(al, ap, n)| Some((cal::airline(al)?, airports::by_iata(ap)?, *n)))
                .collect();
            return Routes::Bog(table);
        }
        let mut links: Vec<(&'static Airport, f64)> = AIRPORTS
            .iter()
            .map(|b| (b, link_weight(airport, b)))
            .filter(|(_, w)| *w > 0.0)
            .collect();
        if links.is_empty() {
            // An isolated small airport (say, Curaçao): fly to anything in reach.
            links = AIRPORTS
                .iter()
                .filter(|b| b.iata != airport.iata && airport.distance_km(b) >= 150.0)
                .map(|b| (b, b.size))
                .collect();
        }
        Routes::Generic(links)
    }

    fn pick(
        &self,
        rng: &mut Rng,
        airport: &Airport,
    ) -> Option<(&'static AirlineInfo, &'static Airport)> {
        match self {
            Routes::Bog(table) => {
                let i = rng.pick_index(table, |(_, _, n)| f64::from(*n))?;
                Some((table[i].0, table[i].1))
            }
            Routes::Generic(links) => {
                let other = *rng.pick(links)?;
                Some((airline_for(rng, airport, other)?, other))
            }
        }
    }
}

/// Relative traffic between `a` and `b`: bigger airports attract more, home
/// markets much more, small airports only fly domestic, and airports closer
/// than 150 km have no flights between them (EZE–AEP, JFK–EWR, MDE–EOH).
fn link_weight(a: &Airport, b: &Airport) -> f64 {
    if a.iata == b.iata {
        return 0.0;
    }
    let distance = a.distance_km(b);
    if distance < 150.0 {
        return 0.0;
    }
    let domestic = a.country == b.country;
    let small = |x: &Airport| x.size < 0.1;
    if !domestic && (small(a) || small(b)) {
        return 0.0;
    }
    let mut w = b.size * if domestic { 6.0 } else { 1.0 };
    if domestic && small(a) && small(b) {
        w *= 0.3;
    }
    if distance > 6000.0 {
        w *= 0.3;
    }
    w
}

/// An airline that may fly a-b: domestic routes only by home carriers
/// (cabotage), international ones by carriers of either country.
fn airline_for(rng: &mut Rng, a: &Airport, b: &Airport) -> Option<&'static AirlineInfo> {
    let home = |al: &AirlineInfo, c: &str| al.countries.contains(&c);
    let candidates: Vec<&'static AirlineInfo> = cal::AIRLINES
        .iter()
        .filter(|al| al.weight > 0)
        .filter(|al| {
            if a.country == b.country {
                home(al, a.country)
            } else {
                home(al, a.country) || home(al, b.country)
            }
        })
        .collect();
    // A long-haul route goes to a carrier with wide bodies, when there is one.
    let distance = a.distance_km(b);
    let able: Vec<&'static AirlineInfo> = candidates
        .iter()
        .copied()
        .filter(|al| distance <= LONG_HAUL_KM || al.models.iter().any(|(m, _)| is_widebody(m)))
        .collect();
    let candidates = if able.is_empty() { candidates } else { able };
    let candidates = if candidates.is_empty() {
        cal::FALLBACK_AIRLINES
            .iter()
            .filter_map(|k| cal::airline(k))
            .collect()
    } else {
        candidates
    };
    let i = rng.pick_index(&candidates, |al| f64::from(al.weight))?;
    Some(candidates[i])
}

// ---------------------------------------------------------------- fleets

/// A tail number of `airline`'s fleet. The fleet is a fixed, seeded set, so
/// the same registrations come back day after day.
fn registration(seed: u64, airline: &AirlineInfo, slot: u64) -> String {
    let mut rng = Rng::new(
        Hasher::new("reg")
            .u64(seed)
            .str(airline.key)
            .u64(slot)
            .finish(),
    );
    let template = rng.pick(airline.regs).copied().unwrap_or("N###@@");
    template
        .chars()
        .map(|c| match c {
            '#' => char::from(b'0' + rng.below(10) as u8),
            '@' => char::from(b'A' + rng.below(26) as u8),
            other => other,
        })
        .collect()
}

/// Roughly one tail per 40 archive records, at least 40: Avianca gets about
/// 165 aircraft (its real fleet is of that order), and a hub served by many
/// flights of one carrier does not run out of distinct tails.
fn fleet_size(airline: &AirlineInfo) -> u64 {
    u64::from(airline.weight / 40).max(40)
}

/// Registration prefix → (country, first hex digits of the ICAO 24-bit
/// address block of that country).
const REG_PREFIXES: &[(&str, &str, &str)] = &[
    ("HK-", "CO", "0AC"),
    ("HP-", "PA", "0C2"),
    ("HI-", "DO", "0C4"),
    ("HC-", "EC", "E84"),
    ("EC-", "ES", "34"),
    ("EI-", "IE", "4CA"),
    ("XA-", "MX", "0D"),
    ("CC-", "CL", "E80"),
    ("LV-", "AR", "E0"),
    ("PR-", "BR", "E4"),
    ("PH-", "NL", "48"),
    ("D-", "DE", "3C"),
    ("F-", "FR", "39"),
    ("G-", "GB", "40"),
    ("TC-", "TR", "4B8"),
    ("A6-", "AE", "896"),
    ("HB-", "CH", "4B"),
    ("C-", "CA", "C0"),
    ("VT-", "IN", "80"),
    ("YV", "VE", "0D8"),
    ("N", "US", "A"),
];

/// Country (ISO alpha-2) a registration belongs to.
pub(crate) fn reg_country(reg: &str) -> Option<&'static str> {
    REG_PREFIXES
        .iter()
        .find(|(p, _, _)| reg.starts_with(p))
        .map(|(_, c, _)| *c)
}

/// A Mode S (ICAO 24-bit) address for a registration: the country's block
/// plus hash digits, so a tail keeps its address across days.
pub(crate) fn mode_s(reg: &str) -> String {
    let prefix = REG_PREFIXES
        .iter()
        .find(|(p, _, _)| reg.starts_with(p))
        .map_or("", |(_, _, h)| *h);
    let h = Hasher::new("modeS").str(reg).finish();
    let tail = format!("{h:016X}");
    let mut s = String::from(prefix);
    s.push_str(&tail[..6 - prefix.len()]);
    s
}

// ---------------------------------------------------------------- days

/// How complete the provider's data is for a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    Past,
    Today,
    Future,
}

/// One physical flight on one day, kept for the real-time endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Flight {
    pub airline: &'static AirlineInfo,
    pub other: &'static Airport,
    pub digits: Option<u32>,
    pub model: Option<&'static str>,
    /// Scheduled time at the queried airport.
    pub scheduled: DateTime<Utc>,
    pub delay_min: i64,
    /// The final status it gets once it is history (archive proportions).
    pub outcome: &'static str,
    pub canceled: bool,
    pub reg: String,
    pub mode_s: String,
    pub cruise_kmh: f64,
}

impl Flight {
    pub(crate) fn revised(&self) -> DateTime<Utc> {
        self.scheduled + Duration::minutes(self.delay_min)
    }
}

/// A generated day: records in answer order with their local scheduled
/// time (for windows), and the physical flights behind them.
#[derive(Debug, Clone)]
pub(crate) struct Day {
    pub records: Vec<(NaiveDateTime, HistoricalRecord)>,
    pub flights: Vec<Flight>,
}

pub(crate) fn day(
    seed: u64,
    shape: DayShape,
    airport: &'static Airport,
    direction: Direction,
    date: NaiveDate,
    clock: Clock,
) -> Day {
    let tz = airport.time_zone();
    let (today, now) = clock.resolve(tz);
    let profile = match date.cmp(&today) {
        std::cmp::Ordering::Less => Profile::Past,
        std::cmp::Ordering::Equal => Profile::Today,
        std::cmp::Ordering::Greater => Profile::Future,
    };
    let day_seed = Hasher::new("day")
        .u64(seed)
        .str(airport.iata)
        .str(direction.as_str())
        .u64(date.num_days_from_ce() as u64)
        .finish();
    let weekday = 1u8 << date.weekday().num_days_from_monday();

    let mut flights = Vec::new();
    let mut records: Vec<(DateTime<Utc>, HistoricalRecord)> = Vec::new();
    let mut tails: HashSet<(&str, u64)> = HashSet::new();
    for (i, plan) in schedule(seed, shape, airport, direction).iter().enumerate() {
        if plan.weekdays & weekday == 0 {
            continue;
        }
        let mut rng = Rng::new(Hasher::new("flight").u64(day_seed).u64(i as u64).finish());
        let scheduled = local_to_utc(tz, date.and_time(plan.time));
        let f = draw_flight(&mut rng, seed, plan, scheduled, direction, &mut tails);
        let out = FlightRecords {
            airport,
            tz,
            direction,
            profile,
            now,
            plan,
            flight: &f,
        };
        out.emit(&mut rng, &mut records);
        flights.push(f);
    }
    // Answer order: by scheduled time; among equal times, timetable order,
    // operator before its codeshare copies.
    records.sort_by_key(|(t, _)| *t);

    let mut out = Vec::with_capacity(records.len() + records.len() / 50);
    for (k, (t, rec)) in records.into_iter().enumerate() {
        let local = t.with_timezone(&tz).naive_local();
        if local.date() != date {
            continue;
        }
        let repeat = Rng::new(Hasher::new("repeat").u64(day_seed).u64(k as u64).finish())
            .chance(cal::REPEAT_SHARE);
        if repeat {
            out.push((local, rec.clone()));
        }
        out.push((local, rec));
    }
    Day {
        records: out,
        flights,
    }
}

/// Day-level draws of one flight, independent of the profile.
fn draw_flight(
    rng: &mut Rng,
    seed: u64,
    plan: &Planned,
    scheduled: DateTime<Utc>,
    direction: Direction,
    tails: &mut HashSet<(&'static str, u64)>,
) -> Flight {
    let past = match direction {
        Direction::Arrival => cal::PAST_ARRIVAL,
        Direction::Departure => cal::PAST_DEPARTURE,
    };
    let outcome = rng.pick(past).copied().unwrap_or("Unknown");
    let buckets = match direction {
        Direction::Arrival => &cal::DELAY_LIVE_ARRIVAL,
        Direction::Departure => &cal::DELAY_LIVE_DEPARTURE,
    };
    let delay_min = draw_delay(rng, buckets);
    // One tail flies one of the day's flights in this direction, while the
    // fleet allows: positions then show distinct aircraft.
    let fleet = fleet_size(plan.airline);
    let mut slot = rng.below(fleet);
    for _ in 0..8 {
        if tails.insert((plan.airline.key, slot)) {
            break;
        }
        slot = rng.below(fleet);
    }
    let reg = registration(seed, plan.airline, slot);
    let mode_s = mode_s(&reg);
    Flight {
        airline: plan.airline,
        other: plan.other,
        digits: plan.digits,
        model: plan.model,
        scheduled,
        delay_min,
        outcome,
        canceled: outcome == "Canceled",
        reg,
        mode_s,
        cruise_kmh: plan.cruise_kmh,
    }
}

fn draw_delay(rng: &mut Rng, buckets: &DelayBuckets) -> i64 {
    match rng.pick_index(buckets, |(_, _, n)| f64::from(*n)) {
        Some(i) => rng.range(buckets[i].0, buckets[i].1),
        None => 0,
    }
}

/// Turns one flight of one day into its records (operator and copies).
struct FlightRecords<'a> {
    airport: &'static Airport,
    tz: Tz,
    direction: Direction,
    profile: Profile,
    now: DateTime<Utc>,
    plan: &'a Planned,
    flight: &'a Flight,
}

impl FlightRecords<'_> {
    fn emit(&self, rng: &mut Rng, out: &mut Vec<(DateTime<Utc>, HistoricalRecord)>) {
        let f = self.flight;
        let plan = self.plan;
        let arrival = self.direction == Direction::Arrival;
        // Draw everything up front, in a fixed order, whatever the profile.
        let future_status = {
            let table = if arrival {
                cal::FUTURE_ARRIVAL
            } else {
                cal::FUTURE_DEPARTURE
            };
            rng.pick(table).copied().unwrap_or("Unknown")
        };
        let basic_delay = draw_delay(rng, &cal::DELAY_BASIC_ARRIVAL);
        let basic_revised = rng.chance(cal::BASIC_EXPECTED_WITH_REVISED);
        let identified = rng.chance(plan.airline.callsign);
        let basic_terminal = {
            let share = cal::BASIC_TERMINAL
                .iter()
                .find(|(d, _)| *d == self.direction)
                .map_or(0.9, |(_, s)| *s);
            rng.chance(share)
        };
        let has_gate = rng.chance(cal::LIVE_GATE);
        let has_belt = rng.chance(cal::LIVE_BELT);
        let gate = self.gate(rng);
        let belt = self.belt(rng);
        let runway = rng.chance(cal::RUNWAY_TIME);
        let name_only = rng.chance(cal::NAME_ONLY_AIRPORT_SHARE);
        let live_unknown_cs = rng.chance(cal::LIVE_CODESHARE_UNKNOWN);
        let basic_operator = rng.chance(cal::BASIC_OPERATOR_WITHOUT_CALLSIGN);
        let copy_callsign = rng.chance(240.0 / 294.0);

        let live = self.profile != Profile::Future;
        let revised = f.revised();
        let status: String = match self.profile {
            Profile::Past => f.outcome.to_string(),
            Profile::Future => future_status.to_string(),
            Profile::Today => self.today_status(revised).to_string(),
        };
        let canceled = status.starts_with("Canceled");
        let sched = movement_time(f.scheduled, self.tz);
        let revised_time = if live {
            Some(movement_time(
                if canceled { f.scheduled } else { revised },
                self.tz,
            ))
        } else if arrival && status == "Expected" && basic_revised {
            Some(movement_time(
                f.scheduled + Duration::minutes(basic_delay),
                self.tz,
            ))
        } else {
            None
        };
        let runway_time =
            (self.profile == Profile::Past && !arrival && status == "Departed" && runway)
                .then(|| movement_time(revised, self.tz));
        let terminal = (live || basic_terminal).then(|| plan.terminal.clone());
        let gate = (live && !arrival && has_gate).then_some(gate);
        let belt = (live && arrival && has_belt && !canceled).then_some(belt);
        let airport_ref = if name_only {
            AirportRef {
                icao: None,
                iata: None,
                name: f.other.name.to_string(),
                time_zone: None,
            }
        } else {
            f.other.airport_ref()
        };
        let movement = Movement {
            airport: airport_ref,
            scheduled_time: sched,
            revised_time,
            runway_time,
            terminal,
            gate,
            baggage_belt: belt,
            quality: if live {
                vec!["Basic".to_string(), "Live".to_string()]
            } else {
                vec!["Basic".to_string()]
            },
        };
        let call_sign = match (identified, plan.airline.icao, f.digits) {
            (true, Some(icao), Some(d)) => Some(format!("{icao}{d:03}")),
            _ => None,
        };
        let operator_aircraft = if f.model.is_some() || identified {
            Some(Aircraft {
                reg: identified.then(|| f.reg.clone()),
                mode_s: identified.then(|| f.mode_s.clone()),
                model: f.model.map(str::to_string),
            })
        } else {
            None
        };
        let operator_cs = if live {
            if live_unknown_cs {
                "Unknown"
            } else {
                "IsOperator"
            }
        } else if identified || basic_operator {
            "IsOperator"
        } else {
            "Unknown"
        };
        let number = match (plan.airline.iata, f.digits) {
            (Some(iata), Some(d)) => format!("{iata} {d}"),
            _ => String::new(),
        };
        let operator = HistoricalRecord {
            movement,
            number,
            call_sign: call_sign.clone(),
            status,
            codeshare_status: operator_cs.to_string(),
            is_cargo: plan.cargo,
            aircraft: operator_aircraft.clone(),
            airline: airline_of(plan.airline),
        };
        // Codeshare copies: the same physical flight under partner numbers.
        // Tracked era: no aircraft, still "IsOperator" (sic), usually the
        // operator's call sign. Schedule-only era: the operator's aircraft
        // and call sign, "IsCodeshared" when the operator is identified.
        let copies: Vec<HistoricalRecord> = plan
            .partners
            .iter()
            .filter_map(|(p, digits)| {
                let number = format!("{} {}", p.iata?, (*digits)?);
                let mut r = operator.clone();
                r.number = number;
                r.airline = airline_of(p);
                if live {
                    r.aircraft = None;
                    r.codeshare_status = "IsOperator".to_string();
                    r.call_sign = if copy_callsign {
                        call_sign.clone()
                    } else {
                        None
                    };
                } else {
                    r.codeshare_status = if identified {
                        "IsCodeshared"
                    } else {
                        "Unknown"
                    }
                    .to_string();
                }
                Some(r)
            })
            .collect();
        out.push((f.scheduled, operator));
        out.extend(copies.into_iter().map(|r| (f.scheduled, r)));
    }

    /// Statuses of today's flights from the clock: what a live board shows.
    fn today_status(&self, revised: DateTime<Utc>) -> &'static str {
        let f = self.flight;
        if f.canceled {
            return "Canceled";
        }
        let late = f.delay_min >= 15;
        let until = (revised - self.now).num_minutes();
        match self.direction {
            Direction::Arrival => match until {
                m if m <= 0 => "Arrived",
                _ if late => "Delayed",
                _ => "Expected",
            },
            Direction::Departure => match until {
                m if m <= -15 => "Departed",
                m if m <= 10 => "GateClosed",
                m if m <= 40 => "Boarding",
                _ if late => "Delayed",
                _ => "Expected",
            },
        }
    }

    fn gate(&self, rng: &mut Rng) -> String {
        if self.airport.iata == "BOG" {
            let gates: Vec<(&str, u32)> = cal::BOG_GATES
                .iter()
                .filter(|(t, _, _)| *t == self.plan.terminal)
                .map(|(_, g, n)| (*g, *n))
                .collect();
            if let Some(g) = rng.pick(&gates) {
                return g.to_string();
            }
        }
        let letter = self
            .plan
            .terminal
            .bytes()
            .next()
            .map_or(b'A', |b| b'A' + b.saturating_sub(b'1') % 26);
        let max = 10 + (20.0 * self.airport.size) as i64;
        format!("{}{}", char::from(letter), rng.range(1, max + 1))
    }

    fn belt(&self, rng: &mut Rng) -> String {
        if self.airport.iata == "BOG" {
            let belts: Vec<(&str, u32)> = cal::BOG_BELTS
                .iter()
                .filter(|(t, _, _)| *t == self.plan.terminal)
                .map(|(_, b, n)| (*b, *n))
                .collect();
            if let Some(b) = rng.pick(&belts) {
                return b.to_string();
            }
        }
        let max = 4 + (8.0 * self.airport.size) as i64;
        rng.range(1, max + 1).to_string()
    }
}

fn airline_of(a: &AirlineInfo) -> Airline {
    Airline {
        name: a.name.to_string(),
        iata: a.iata.map(str::to_string),
        icao: a.icao.map(str::to_string),
    }
}

// ---------------------------------------------------------------- public API

/// The whole local day `local_date` of `airport_iata` in one direction, as
/// `/historical?date=` answers it when the simulator's "today" is `today`
/// (pinned: statuses of today's flights are computed for local noon).
/// None for an airport not in the table.
pub fn historical_day(
    seed: u64,
    airport_iata: &str,
    direction: Direction,
    local_date: NaiveDate,
    today: NaiveDate,
) -> Option<Vec<HistoricalRecord>> {
    historical_day_shaped(
        seed,
        DayShape::Archive,
        airport_iata,
        direction,
        local_date,
        today,
    )
}

/// Like [`historical_day`] in the given day shape.
pub fn historical_day_shaped(
    seed: u64,
    shape: DayShape,
    airport_iata: &str,
    direction: Direction,
    local_date: NaiveDate,
    today: NaiveDate,
) -> Option<Vec<HistoricalRecord>> {
    let airport = airports::by_iata(airport_iata)?;
    Some(records(day(
        seed,
        shape,
        airport,
        direction,
        local_date,
        Clock::Pinned(today),
    )))
}

/// Like [`historical_day`] with a real instant as "now" (what the server
/// does when no `today` is configured).
pub fn historical_day_at(
    seed: u64,
    airport_iata: &str,
    direction: Direction,
    local_date: NaiveDate,
    now: DateTime<Utc>,
) -> Option<Vec<HistoricalRecord>> {
    let airport = airports::by_iata(airport_iata)?;
    Some(records(day(
        seed,
        DayShape::Archive,
        airport,
        direction,
        local_date,
        Clock::At(now),
    )))
}

fn records(day: Day) -> Vec<HistoricalRecord> {
    day.records.into_iter().map(|(_, r)| r).collect()
}

/// Records whose local scheduled time lies in `[from, to]` (minute
/// precision, both inclusive), in answer order. A window that crosses
/// midnight takes from both days, so windows and day answers always agree.
pub(crate) fn window(
    seed: u64,
    shape: DayShape,
    airport: &'static Airport,
    direction: Direction,
    from: NaiveDateTime,
    to: NaiveDateTime,
    clock: Clock,
) -> Vec<HistoricalRecord> {
    let mut out = Vec::new();
    let mut date = from.date();
    while date <= to.date() {
        let d = day(seed, shape, airport, direction, date, clock);
        out.extend(
            d.records
                .into_iter()
                .filter(|(t, _)| *t >= from && *t <= to)
                .map(|(_, r)| r),
        );
        match date.succ_opt() {
            Some(next) => date = next,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn bog() -> &'static Airport {
        airports::by_iata("BOG").unwrap()
    }

    const TODAY: &str = "2024-09-01";

    #[test]
    fn same_inputs_same_day_and_seed_matters() {
        let a = historical_day(42, "BOG", Direction::Arrival, d("2024-08-12"), d(TODAY)).unwrap();
        let b = historical_day(42, "bog", Direction::Arrival, d("2024-08-12"), d(TODAY)).unwrap();
        assert_eq!(a, b);
        let c = historical_day(43, "BOG", Direction::Arrival, d("2024-08-12"), d(TODAY)).unwrap();
        assert_ne!(a, c);
        let e = historical_day(42, "BOG", Direction::Departure, d("2024-08-12"), d(TODAY)).unwrap();
        assert_ne!(a, e);
        assert!(historical_day(42, "XXX", Direction::Arrival, d("2024-08-12"), d(TODAY)).is_none());
    }

    /// Pinned output for the default seed: demos, docs and other crates'
    /// tests may quote it, so a change to generation must be deliberate.
    #[test]
    fn default_seed_output_is_pinned() {
        let recs =
            historical_day(42, "BOG", Direction::Arrival, d("2024-08-12"), d(TODAY)).unwrap();
        assert_eq!(recs.len(), 326);
        assert_eq!(recs[0].number, "JA 6673");
        assert_eq!(recs[0].movement.scheduled_time.utc, "2024-08-12 16:00Z");
        assert_eq!(
            recs[0].movement.scheduled_time.local,
            "2024-08-12 11:00-05:00"
        );
        assert_eq!(recs[1].number, "AV 3133");
    }

    #[test]
    fn two_half_day_windows_make_the_day() {
        for (airport, date) in [
            ("BOG", "2024-08-12"),
            ("MAD", "2024-03-31"),
            ("MIA", "2024-11-03"),
        ] {
            let ap = airports::by_iata(airport).unwrap();
            let clock = Clock::Pinned(d(TODAY));
            for (dir, shape) in Direction::ALL.into_iter().zip(DayShape::ALL) {
                let day = records(day(7, shape, ap, dir, d(date), clock));
                let t = |h: u32, m: u32| d(date).and_hms_opt(h, m, 0).unwrap();
                let mut union = window(7, shape, ap, dir, t(0, 0), t(11, 59), clock);
                union.extend(window(7, shape, ap, dir, t(12, 0), t(23, 59), clock));
                assert_eq!(day, union, "{airport} {dir} {date} {shape}");
            }
        }
    }

    /// Records per local hour of BOG, summed over `seeds` × `days` days
    /// from 2024-07-01, both directions apart.
    fn bog_hours(shape: DayShape, dir: Direction, seeds: u64, days: i64) -> [usize; 24] {
        let mut hours = [0usize; 24];
        for seed in 1..=seeds {
            for k in 0..days {
                let date = d("2024-07-01") + Duration::days(k);
                for r in historical_day_shaped(seed, shape, "BOG", dir, date, d(TODAY)).unwrap() {
                    let local = &r.movement.scheduled_time.local;
                    let h: usize = local[11..13].parse().unwrap();
                    hours[h] += 1;
                }
            }
        }
        hours
    }

    #[test]
    fn day_shapes_parse_and_print() {
        for shape in DayShape::ALL {
            assert_eq!(shape.as_str().parse::<DayShape>(), Ok(shape));
            assert_eq!(shape.to_string(), shape.as_str());
        }
        assert_eq!(" Realistic".parse::<DayShape>(), Ok(DayShape::Realistic));
        let err = "afternoon".parse::<DayShape>().unwrap_err();
        assert!(err.to_string().contains("realistic or archive"), "{err}");
        assert_eq!(DayShape::default(), DayShape::Archive);
    }

    #[test]
    fn archive_shape_is_the_default_output() {
        for dir in Direction::ALL {
            let date = d("2024-08-12");
            let plain = historical_day(42, "BOG", dir, date, d(TODAY)).unwrap();
            let archive =
                historical_day_shaped(42, DayShape::Archive, "BOG", dir, date, d(TODAY)).unwrap();
            assert_eq!(plain, archive, "{dir}");
        }
    }

    #[test]
    fn realistic_day_is_reproducible() {
        let date = d("2024-08-12");
        let day = |seed| {
            historical_day_shaped(
                seed,
                DayShape::Realistic,
                "BOG",
                Direction::Arrival,
                date,
                d(TODAY),
            )
            .unwrap()
        };
        assert_eq!(day(42), day(42));
        assert_ne!(day(42), day(43));
        let archive = historical_day(42, "BOG", Direction::Arrival, date, d(TODAY)).unwrap();
        assert_ne!(day(42), archive);
    }

    #[test]
    fn realistic_day_fills_both_windows() {
        for dir in Direction::ALL {
            let real = bog_hours(DayShape::Realistic, dir, 2, 14);
            let arch = bog_hours(DayShape::Archive, dir, 2, 14);
            let morning = |h: &[usize; 24]| h[..12].iter().sum::<usize>() as f64;
            let total = |h: &[usize; 24]| h.iter().sum::<usize>() as f64;
            let share = morning(&real) / total(&real);
            assert!(
                (0.35..=0.50).contains(&share),
                "{dir}: morning share {share}"
            );
            // The archive's days are afternoons: under 2 % before noon.
            assert!(morning(&arch) / total(&arch) < 0.02, "{dir}: {arch:?}");
            // About 1.7 times the archive's records (the slot curve gives 1.72).
            let ratio = total(&real) / total(&arch);
            assert!((1.55..=1.9).contains(&ratio), "{dir}: ratio {ratio}");
        }
    }

    #[test]
    fn realistic_afternoon_is_the_archive_afternoon() {
        for dir in Direction::ALL {
            let real = bog_hours(DayShape::Realistic, dir, 3, 14);
            let arch = bog_hours(DayShape::Archive, dir, 3, 14);
            let afternoon = |h: &[usize; 24]| h[12..].iter().sum::<usize>() as f64;
            let (r, a) = (afternoon(&real), afternoon(&arch));
            assert!(
                (r - a).abs() / a < 0.08,
                "{dir}: afternoon {r} vs archive {a}"
            );
        }
    }

    #[test]
    fn realistic_hours_follow_the_slot_curve() {
        let slots = cal::BOG_SLOTS.map(f64::from);
        let slot_afternoon = slots[12..].iter().sum::<f64>() / 12.0;
        for dir in Direction::ALL {
            // Several seeds: one seed's timetable is a single draw of ~20
            // flights an hour, too few to see a curve in one hour.
            let h = bog_hours(DayShape::Realistic, dir, 6, 7).map(|n| n as f64);
            let afternoon = h[12..].iter().sum::<f64>() / 12.0;
            let mean = |r: std::ops::Range<usize>| {
                let n = r.len() as f64;
                (
                    h[r.clone()].iter().sum::<f64>() / n / afternoon,
                    slots[r].iter().sum::<f64>() / n / slot_afternoon,
                )
            };
            for (range, tolerance) in [(0..5, 0.08), (5..6, 0.15), (6..12, 0.08)] {
                let (got, want) = mean(range.clone());
                assert!(
                    (got - want).abs() <= tolerance,
                    "{dir} hours {range:?}: {got:.3} of the afternoon's rate, slots say {want:.3}; {h:?}"
                );
            }
            // Night < 05:00 < daytime, as the slots declare.
            let night = h[..5].iter().sum::<f64>() / 5.0;
            assert!(
                night < h[5] && h[5] < h[6..12].iter().sum::<f64>() / 6.0,
                "{dir}: {h:?}"
            );
        }
    }

    #[test]
    fn bog_volume_matches_the_archive() {
        for dir in Direction::ALL {
            let (_, lo, hi) = cal::BOG_RECORDS_RANGE
                .iter()
                .find(|(x, _, _)| *x == dir)
                .copied()
                .unwrap();
            let mut total = 0usize;
            let days = 28;
            for k in 0..days {
                let date = d("2024-07-01") + Duration::days(k);
                let n = historical_day(42, "BOG", dir, date, d(TODAY))
                    .unwrap()
                    .len();
                // Each day within the archive's range, widened by 10 %.
                assert!(
                    (f64::from(lo) * 0.9..=f64::from(hi) * 1.1).contains(&(n as f64)),
                    "{dir} {date}: {n}"
                );
                total += n;
            }
            let mean = total as f64 / days as f64;
            let target = cal::bog_records_per_day(dir);
            assert!(
                (mean - target).abs() / target < 0.06,
                "{dir}: mean {mean} vs {target}"
            );
        }
    }

    #[test]
    fn local_times_carry_the_airport_offset() {
        let recs =
            historical_day(42, "BOG", Direction::Departure, d("2024-08-12"), d(TODAY)).unwrap();
        assert!(!recs.is_empty());
        for r in &recs {
            let t = &r.movement.scheduled_time;
            assert!(t.local.ends_with("-05:00"), "{}", t.local);
            assert!(t.local.starts_with("2024-08-12 "), "{}", t.local);
            assert!(t.utc.ends_with('Z') && t.utc.len() == "2024-08-12 17:00Z".len());
            // utc and local are the same instant.
            let local = DateTime::parse_from_str(&t.local, "%Y-%m-%d %H:%M%:z").unwrap();
            let utc = NaiveDateTime::parse_from_str(&t.utc, "%Y-%m-%d %H:%MZ").unwrap();
            assert_eq!(local.naive_utc(), utc);
            assert_ne!(r.movement.airport.iata.as_deref(), Some("BOG"));
        }
        // Madrid in summer and in winter.
        let summer =
            historical_day(42, "MAD", Direction::Arrival, d("2024-07-01"), d(TODAY)).unwrap();
        assert!(summer
            .iter()
            .all(|r| r.movement.scheduled_time.local.ends_with("+02:00")));
        let winter =
            historical_day(42, "MAD", Direction::Arrival, d("2024-01-15"), d(TODAY)).unwrap();
        assert!(winter
            .iter()
            .all(|r| r.movement.scheduled_time.local.ends_with("+01:00")));
    }

    #[test]
    fn records_look_like_the_archive() {
        let mut n = 0usize;
        let mut statuses: HashMap<String, usize> = HashMap::new();
        let mut callsign = 0usize;
        let mut cargo = 0usize;
        let mut name_only = 0usize;
        for k in 0..14 {
            let date = d("2024-08-01") + Duration::days(k);
            for dir in Direction::ALL {
                for r in historical_day(1, "BOG", dir, date, d(TODAY)).unwrap() {
                    n += 1;
                    *statuses.entry(r.status.clone()).or_default() += 1;
                    callsign += usize::from(r.call_sign.is_some());
                    cargo += usize::from(r.is_cargo);
                    name_only += usize::from(r.movement.airport.iata.is_none());
                    assert_eq!(r.movement.quality, ["Basic", "Live"]);
                    assert!(r.movement.revised_time.is_some());
                    if let Some((iata, digits)) = r.number.split_once(' ') {
                        assert_eq!(Some(iata), r.airline.iata.as_deref());
                        assert!(
                            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()),
                            "{}",
                            r.number
                        );
                    } else {
                        assert!(
                            r.number.is_empty() && r.airline.iata.is_none(),
                            "{}",
                            r.number
                        );
                    }
                }
            }
        }
        let share = |x: usize| x as f64 / n as f64;
        let final_ = statuses.get("Arrived").copied().unwrap_or(0)
            + statuses.get("Departed").copied().unwrap_or(0);
        assert!(share(final_) > 0.95, "{statuses:?}");
        assert!(statuses.contains_key("Canceled"), "{statuses:?}");
        assert!(
            (0.08..0.25).contains(&share(callsign)),
            "callsign {}",
            share(callsign)
        );
        assert!(
            (0.005..0.04).contains(&share(cargo)),
            "cargo {}",
            share(cargo)
        );
        assert!(
            (0.003..0.03).contains(&share(name_only)),
            "name only {}",
            share(name_only)
        );
    }

    #[test]
    fn repeats_and_codeshares_exist() {
        let mut n = 0usize;
        let mut repeats = 0usize;
        let mut shared = 0usize;
        for k in 0..14 {
            let date = d("2024-08-01") + Duration::days(k);
            let recs = historical_day(3, "BOG", Direction::Arrival, date, d(TODAY)).unwrap();
            n += recs.len();
            repeats += recs.windows(2).filter(|w| w[0] == w[1]).count();
            // Copies: same times and other end, different number.
            shared += recs
                .windows(2)
                .filter(|w| {
                    w[0].number != w[1].number
                        && w[0].movement.scheduled_time == w[1].movement.scheduled_time
                        && w[0].movement.airport == w[1].movement.airport
                        && w[0].status == w[1].status
                        && w[1].aircraft.is_none()
                })
                .count();
        }
        let r = repeats as f64 / n as f64;
        assert!((0.007..0.03).contains(&r), "repeat share {r}");
        let s = shared as f64 / n as f64;
        assert!((0.01..0.08).contains(&s), "codeshare share {s}");
    }

    #[test]
    fn statuses_follow_today() {
        let date = d("2024-08-12");
        let count = |today: NaiveDate, status: &str| {
            historical_day(5, "BOG", Direction::Departure, date, today)
                .unwrap()
                .iter()
                .filter(|r| r.status == status)
                .count()
        };
        // Future: schedule-only data, no gates, quality Basic.
        let future = historical_day(5, "BOG", Direction::Departure, date, d("2024-08-01")).unwrap();
        assert!(future
            .iter()
            .all(|r| r.movement.quality == ["Basic"] && r.movement.gate.is_none()));
        assert!(count(d("2024-08-01"), "Unknown") > future.len() * 8 / 10);
        assert_eq!(count(d("2024-08-01"), "Departed"), 0);
        // Today, pinned at local noon: the archive's day starts at noon, so
        // nearly everything is still to come.
        let today = historical_day(5, "BOG", Direction::Departure, date, date).unwrap();
        let later = count(date, "Expected") + count(date, "Delayed") + count(date, "Boarding");
        assert!(later > today.len() / 2, "{later} of {}", today.len());
        // Now in the evening: the afternoon has left.
        let evening = Utc.with_ymd_and_hms(2024, 8, 13, 0, 30, 0).unwrap(); // 19:30 in Bogotá
        let recs = historical_day_at(5, "BOG", Direction::Departure, date, evening).unwrap();
        let departed = recs.iter().filter(|r| r.status == "Departed").count();
        let expected = recs
            .iter()
            .filter(|r| r.status == "Expected" || r.status == "Delayed")
            .count();
        assert!(departed > expected && expected > 0, "{departed} {expected}");
        // The flights themselves never change with the clock.
        let strip = |v: Vec<HistoricalRecord>| -> Vec<(String, String)> {
            v.into_iter()
                .map(|r| (r.number, r.movement.scheduled_time.utc))
                .collect()
        };
        assert_eq!(strip(future), strip(recs));
    }

    #[test]
    fn other_airports_scale_with_size() {
        let date = d("2024-08-12");
        let n = |code: &str| {
            historical_day(42, code, Direction::Arrival, date, d(TODAY))
                .unwrap()
                .len()
        };
        let bog = n("BOG");
        let mde = n("MDE");
        let atl = n("ATL");
        let mvp = n("MVP");
        assert!(mde > bog / 4 && mde < bog * 3 / 4, "MDE {mde} vs BOG {bog}");
        assert!(atl > bog * 2, "ATL {atl} vs BOG {bog}");
        assert!(mvp < 10, "MVP {mvp}");
        // Regional airports fly domestic only.
        for k in 0..7 {
            for r in historical_day(
                42,
                "MVP",
                Direction::Departure,
                date + Duration::days(k),
                d(TODAY),
            )
            .unwrap()
            {
                assert_eq!(
                    r.movement
                        .airport
                        .time_zone
                        .as_deref()
                        .unwrap_or("America/Bogota"),
                    "America/Bogota"
                );
            }
        }
        // Long-haul from MIA is flown by wide bodies when the airline has any.
        let mia = historical_day(42, "MIA", Direction::Departure, date, d(TODAY)).unwrap();
        assert!(mia.len() > bog);
    }

    #[test]
    fn tails_keep_their_mode_s() {
        assert_eq!(mode_s("HK-5388"), mode_s("HK-5388"));
        assert!(mode_s("HK-5388").starts_with("0AC"));
        assert!(mode_s("N123AV").starts_with('A'));
        assert_eq!(mode_s("ZZZ").len(), 6);
        assert_eq!(reg_country("HK-5388"), Some("CO"));
        assert_eq!(reg_country("N123AV"), Some("US"));
        let a = cal::airline("AV").unwrap();
        let r = registration(1, a, 3);
        assert_eq!(r, registration(1, a, 3));
        assert!(
            r.starts_with('N') || r.starts_with("HK-") || r.starts_with("EC-"),
            "{r}"
        );
    }

    #[test]
    fn dst_gap_moves_forward() {
        let tz: Tz = "Europe/Madrid".parse().unwrap();
        let gap = d("2024-03-31").and_hms_opt(2, 30, 0).unwrap();
        let t = local_to_utc(tz, gap);
        assert_eq!(t, Utc.with_ymd_and_hms(2024, 3, 31, 1, 30, 0).unwrap());
        assert_eq!(bog().time_zone(), chrono_tz::America::Bogota);
    }
}
