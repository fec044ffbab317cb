//! Figures calibrated on the real archive of Bogotá
//! (`../shared/flightlabs-archive/BOG` from the repository's root, 21 days, 12,665 records) by
//! `crates/simulator/calibrate.py`. Counts are kept as measured (not rounded
//! into percentages) so that a re-run of the script can be compared line by
//! line.
//!
//! The archive has two eras that the simulator reproduces as two *profiles*
//! (see `generate.rs`): 2024-08 looks like schedule-only data (quality
//! `["Basic"]`, statuses mostly `Unknown`, no gate or belt) and 2025-03 like
//! tracked data (quality `["Basic","Live"]`, final statuses, `revisedTime`
//! always, gates and belts).

use flightlabs::Direction;

// ------------------------------------------------------------------ volume

/// Mean records per day and direction at BOG: arrivals 315.3 (296–337),
/// departures 287.8 (249–344), repeats and codeshare copies included.
pub(crate) const BOG_RECORDS_PER_DAY: [(Direction, f64); 2] =
    [(Direction::Arrival, 315.3), (Direction::Departure, 287.8)];
/// Observed per-day minimum and maximum of records at BOG, for tests.
#[cfg(test)]
pub(crate) const BOG_RECORDS_RANGE: [(Direction, u32, u32); 2] = [
    (Direction::Arrival, 296, 337),
    (Direction::Departure, 249, 344),
];

pub(crate) fn bog_records_per_day(d: Direction) -> f64 {
    BOG_RECORDS_PER_DAY
        .iter()
        .find(|(x, _)| *x == d)
        .map_or(300.0, |(_, v)| *v)
}

/// 187 exact repeats in 12,665 records: the same record twice in one
/// response, 177 of them right after the first copy (the simulator always
/// puts it there, so that answers stay sorted by scheduled time).
pub(crate) const REPEAT_SHARE: f64 = 187.0 / 12_665.0;

/// 152 of 12,665 records name the other airport by name only (no codes, no
/// time zone), e.g. `{"name": "Miami"}`.
pub(crate) const NAME_ONLY_AIRPORT_SHARE: f64 = 152.0 / 12_665.0;

// ------------------------------------------------------------------ times

/// Scheduled local hour at BOG, per direction (records per hour over 21
/// days). The archive covers essentially 12:00–23:59 local only: the old
/// pipeline evidently fetched one 12-hour window per day, so its "days" are
/// afternoons. The simulator reproduces the archive as it is.
pub(crate) const HOURS_ARRIVAL: [u32; 24] = [
    1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 7, 34, 501, 521, 514, 537, 467, 538, 635, 670, 667, 538, 495, 482,
];
pub(crate) const HOURS_DEPARTURE: [u32; 24] = [
    0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 4, 9, 571, 541, 554, 648, 563, 518, 464, 453, 464, 531, 397, 322,
];

/// Declared hourly arrival slots at BOG (El Dorado) by hour of the local day,
/// from Aerocivil's (Colombia's civil aviation authority) declared slot
/// capacity for the summer 2024 season: about 10 arrivals per hour
/// 00:00–04:59, 20 at 05:00, and 25–27 per hour from 06:00 to 23:59. The
/// source gives a range for the daytime hours, not one figure per hour, so
/// the simulator takes the middle, 26, for each of them.
///
/// Why slots and not observed traffic: the archive only covers afternoons
/// (see `HOURS_ARRIVAL`), and the slot declaration is the public, documented
/// shape of BOG's whole 24 h day. We found no documented public departure
/// curve for BOG, so departures use this same curve.
///
/// Used by the realistic day shape (`DayShape::Realistic` in `generate.rs`)
/// only *relative to the afternoon*: 12:00–23:59 keeps the archive's records
/// per hour, and each other hour gets the afternoon's mean scaled by
/// `BOG_SLOTS[h] / mean(BOG_SLOTS[12..24])`.
pub(crate) const BOG_SLOTS: [u32; 24] = [
    10, 10, 10, 10, 10, 20, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26,
];

/// Minute of the scheduled time: round minutes dominate (:00, :10, :30 …).
pub(crate) const MINUTES: [u32; 60] = [
    1048, 113, 74, 128, 69, 310, 81, 66, 74, 76, 921, 73, 125, 58, 310, 567, 81, 101, 59, 66, 459,
    75, 75, 83, 214, 571, 57, 85, 58, 232, 713, 53, 101, 128, 149, 442, 47, 99, 80, 168, 656, 98,
    82, 75, 328, 566, 115, 107, 106, 62, 515, 26, 110, 62, 272, 569, 60, 66, 55, 446,
];

/// `revisedTime - scheduledTime` in minutes, as buckets `[lo, hi)` with
/// counts; `[0, 1)` is "exactly on time".
pub(crate) type DelayBuckets = [(i64, i64, u32); 15];

pub(crate) const DELAY_LIVE_ARRIVAL: DelayBuckets = [
    (-180, -60, 9),
    (-60, -30, 68),
    (-30, -20, 176),
    (-20, -10, 539),
    (-10, -5, 239),
    (-5, 0, 220),
    (0, 1, 90),
    (1, 5, 109),
    (5, 10, 141),
    (10, 20, 202),
    (20, 30, 116),
    (30, 60, 181),
    (60, 120, 102),
    (120, 240, 31),
    (240, 1440, 17),
];
pub(crate) const DELAY_LIVE_DEPARTURE: DelayBuckets = [
    (-180, -60, 0),
    (-60, -30, 4),
    (-30, -20, 4),
    (-20, -10, 7),
    (-10, -5, 6),
    (-5, 0, 6),
    (0, 1, 1803),
    (1, 5, 2),
    (5, 10, 33),
    (10, 20, 77),
    (20, 30, 83),
    (30, 60, 126),
    (60, 120, 91),
    (120, 240, 42),
    (240, 1440, 7),
];
/// Schedule-only era: only `Expected` arrivals carry a revisedTime (331 of
/// 612), an estimate.
pub(crate) const DELAY_BASIC_ARRIVAL: DelayBuckets = [
    (-180, -60, 10),
    (-60, -30, 10),
    (-30, -20, 11),
    (-20, -10, 45),
    (-10, -5, 20),
    (-5, 0, 24),
    (0, 1, 0),
    (1, 5, 14),
    (5, 10, 17),
    (10, 20, 48),
    (20, 30, 51),
    (30, 60, 45),
    (60, 120, 23),
    (120, 240, 12),
    (240, 1440, 1),
];
pub(crate) const BASIC_EXPECTED_WITH_REVISED: f64 = 331.0 / 612.0;

// ------------------------------------------------------------------ statuses

/// Past days (tracked era without 2025-03-02, which was fetched during that
/// day). Arrivals: Arrived 1929, Canceled 36, Delayed 3, Expected 1.
/// Departures: Departed 1950, Canceled 27, Boarding 10, GateClosed 6,
/// Delayed 5. The non-final leftovers are the provider's stale statuses.
pub(crate) const PAST_ARRIVAL: &[(&str, u32)] = &[
    ("Arrived", 1929),
    ("Canceled", 36),
    ("Delayed", 3),
    ("Expected", 1),
];
pub(crate) const PAST_DEPARTURE: &[(&str, u32)] = &[
    ("Departed", 1950),
    ("Canceled", 27),
    ("Boarding", 10),
    ("GateClosed", 6),
    ("Delayed", 5),
];
/// Days ahead (schedule-only era). Arrivals: Unknown 3712, Expected 612,
/// CanceledUncertain 12, Canceled 1. Departures: Unknown 3334, Departed 357,
/// Expected 25, CanceledUncertain 4, Canceled 1; a future flight cannot have
/// departed, so those 357 count as Unknown here.
pub(crate) const FUTURE_ARRIVAL: &[(&str, u32)] = &[
    ("Unknown", 3712),
    ("Expected", 612),
    ("CanceledUncertain", 12),
    ("Canceled", 1),
];
pub(crate) const FUTURE_DEPARTURE: &[(&str, u32)] = &[
    ("Unknown", 3334 + 357),
    ("Expected", 25),
    ("CanceledUncertain", 4),
    ("Canceled", 1),
];

/// Tracked era: IsOperator 99.78 %, Unknown 0.22 % (10 of 4,607).
pub(crate) const LIVE_CODESHARE_UNKNOWN: f64 = 10.0 / 4607.0;
/// Schedule-only era: `IsOperator` goes with a call sign (1,053 of 1,092);
/// without one, 187 of 6,966 still say IsOperator, the rest Unknown.
pub(crate) const BASIC_OPERATOR_WITHOUT_CALLSIGN: f64 = 187.0 / 6966.0;

// ------------------------------------------------------------------ optional keys

/// Share of records with the key, schedule-only era (2024-08).
pub(crate) const BASIC_TERMINAL: [(Direction, f64); 2] =
    [(Direction::Arrival, 0.8868), (Direction::Departure, 0.9307)];
/// Tracked era (2025-03): terminal and revisedTime 100 %, gate on 96.47 % of
/// departures, baggage belt on 95.36 % of arrivals, runwayTime never (0.13 %
/// of departures in the other era).
pub(crate) const LIVE_GATE: f64 = 0.9647;
pub(crate) const LIVE_BELT: f64 = 0.9536;
pub(crate) const RUNWAY_TIME: f64 = 0.0013;

/// Codeshares: 3.17 % of physical flights are listed under more than one
/// number; of those, 342 under 2 numbers, 38 under 3, 2 under 4.
pub(crate) const EXTRA_PARTNERS: &[(usize, u32)] = &[(1, 342), (2, 38), (3, 2)];

// ------------------------------------------------------------------ airlines

/// An airline as the archive shows it. `weight` is its number of records at
/// BOG over the 21 days (its share of traffic for routes not in
/// [`BOG_ROUTES`]); 0 means it only ever appears as a marketing partner.
#[derive(Debug)]
pub(crate) struct AirlineInfo {
    /// IATA code, or the name for the rare airline without codes.
    pub key: &'static str,
    pub name: &'static str,
    pub iata: Option<&'static str>,
    pub icao: Option<&'static str>,
    /// Home markets (ISO 3166 alpha-2), used to staff routes away from BOG.
    pub countries: &'static [&'static str],
    pub weight: u32,
    /// Share of its records with a call sign (and then reg and modeS).
    pub callsign: f64,
    /// Share of its records flagged isCargo.
    pub cargo: f64,
    /// Digits of the flight number: (count of digits, records).
    pub digits: &'static [(u32, u32)],
    /// Aircraft models of the flights it operates: (model, records).
    pub models: &'static [(&'static str, u32)],
    /// Registration templates: `#` a digit, `@` a letter.
    pub regs: &'static [(&'static str, u32)],
    /// Share of its BOG flights at terminal 2.
    pub bog_t2: f64,
    /// Share of its flights also sold by partners, and the partners.
    pub codeshare: f64,
    pub partners: &'static [(&'static str, u32)],
}

const NONE: &[(&str, u32)] = &[];

macro_rules! airline {
    ($key:expr, $name:expr, $iata:expr, $icao:expr, $countries:expr, $weight:expr,
     callsign: $cs:expr, cargo: $cargo:expr, digits: $digits:expr, models: $models:expr,
     regs: $regs:expr, t2: $t2:expr, codeshare: $share:expr, partners: $partners:expr) => {
        AirlineInfo {
            key: $key,
            name: $name,
            iata: $iata,
            icao: $icao,
            countries: $countries,
            weight: $weight,
            callsign: $cs,
            cargo: $cargo,
            digits: $digits,
            models: $models,
            regs: $regs,
            bog_t2: $t2,
            codeshare: $share,
            partners: $partners,
        }
    };
}

/// All airlines of the archive with codes (the two spellings of American,
/// Spirit and United merged under the more frequent one), TAESCOL (no codes:
/// its numbers are empty strings, as in the archive), and British Airways,
/// absent from BOG but needed to staff routes between big hubs.
pub(crate) static AIRLINES: &[AirlineInfo] = &[
    airline!("AV", "Avianca", Some("AV"), Some("AVA"), &["CO", "EC", "SV", "CR", "GT", "PE"], 6617,
        callsign: 0.1455, cargo: 0.0, digits: &[(4, 4695), (3, 1132), (2, 704), (1, 86)],
        models: &[("Airbus A320", 4500), ("Airbus A320 NEO", 1124), ("Airbus A319", 348), ("Boeing 787-8", 280),
                  ("ATR 72", 90), ("Airbus A320 (Sharklets)", 26), ("Airbus A330", 4)],
        regs: &[("N###AV", 667), ("HK-####", 204), ("N###AC", 24), ("N###FR", 13), ("EC-@@@", 12), ("N###AG", 10)],
        t2: 0.013, codeshare: 0.031,
        partners: &[("IB", 83), ("G3", 43), ("LH", 24), ("TK", 19), ("CM", 11), ("UA", 9), ("EY", 8), ("6N", 5), ("AC", 2)]),
    airline!("LA", "LATAM", Some("LA"), Some("LAN"), &["CL", "CO", "PE", "BR", "EC"], 2378,
        callsign: 0.013, cargo: 0.0, digits: &[(4, 2307), (3, 71)],
        models: &[("Airbus A320", 2185), ("Airbus A319", 60), ("Boeing 787-8", 56), ("Airbus A330", 11), ("Airbus A330-200", 3)],
        regs: &[("CC-B@@", 2), ("EC-@@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("VE", "EasyFly", Some("VE"), Some("EFY"), &["CO"], 804,
        callsign: 0.0, cargo: 0.0012, digits: &[(4, 804)],
        models: &[("ATR 72", 760), ("Airbus A320", 4)],
        regs: &[("HK-####", 1)], t2: 0.317, codeshare: 0.109, partners: &[("AV", 84)]),
    airline!("P5", "Copa  Colombia", Some("P5"), Some("RPB"), &["CO", "PA"], 481,
        callsign: 0.0936, cargo: 0.0, digits: &[(4, 481)],
        models: &[("Boeing 737-800", 470)],
        regs: &[("HP-####CMP", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("9R", "SATENA", Some("9R"), Some("NSE"), &["CO"], 431,
        callsign: 0.0, cargo: 0.0, digits: &[(4, 431)],
        models: &[("ATR 42-300", 194), ("Embraer RJ145", 161), ("ATR 72", 53)],
        regs: &[("HK-####", 1)], t2: 0.452, codeshare: 0.0, partners: NONE),
    airline!("JA", "JetSMART", Some("JA"), Some("JAT"), &["CL", "CO", "PE", "AR"], 400,
        callsign: 0.0, cargo: 0.0, digits: &[(4, 400)],
        models: &[("Airbus A320", 387)],
        regs: &[("CC-A@@", 1)], t2: 0.9975, codeshare: 0.0, partners: NONE),
    airline!("IB", "Iberia", Some("IB"), Some("IBE"), &["ES"], 193,
        callsign: 0.4197, cargo: 0.0, digits: &[(4, 158), (3, 35)],
        models: &[("Airbus A350-900", 62), ("Airbus A350", 41), ("Airbus A220-300", 4)],
        regs: &[("EC-@@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("CM", "Copa", Some("CM"), Some("CMP"), &["PA"], 191,
        callsign: 0.0105, cargo: 0.0, digits: &[(3, 179), (4, 12)],
        models: &[("Boeing 737-800", 106), ("Boeing 737-700", 48), ("Boeing 737", 23)],
        regs: &[("HP-####CMP", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("AA", "American", Some("AA"), Some("AAL"), &["US"], 121,
        callsign: 0.8843, cargo: 0.0, digits: &[(3, 67), (4, 54)],
        models: &[("Boeing 737", 60), ("Boeing 737-800", 43), ("Boeing 737 MAX 8", 18)],
        regs: &[("N###@@", 1)], t2: 0.0, codeshare: 0.098, partners: &[("PT", 11)]),
    airline!("DL", "Delta Air Lines", Some("DL"), Some("DAL"), &["US"], 88,
        callsign: 0.8182, cargo: 0.0, digits: &[(3, 88)],
        models: &[("Boeing 757-200", 45), ("Boeing 757", 38), ("Boeing 767-300", 5)],
        regs: &[("N###DL", 17), ("N###US", 17), ("N####", 9)], t2: 0.0, codeshare: 0.193, partners: &[("9E", 17)]),
    airline!("G3", "Gol", Some("G3"), Some("GLO"), &["BR"], 76,
        callsign: 0.0921, cargo: 0.0, digits: &[(4, 76)],
        models: &[("Boeing 737", 32)],
        regs: &[("PR-G@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("TK", "Turkish", Some("TK"), Some("THY"), &["TR"], 64,
        callsign: 0.1094, cargo: 0.0312, digits: &[(3, 42), (4, 22)],
        models: &[("Boeing 787-9", 41), ("Boeing 777", 2)],
        regs: &[("TC-@@@", 1)], t2: 0.031, codeshare: 0.0, partners: NONE),
    airline!("AM", "Aeromexico", Some("AM"), Some("AMX"), &["MX"], 56,
        callsign: 0.6786, cargo: 0.0, digits: &[(3, 56)],
        models: &[("Boeing 737", 30), ("Boeing 737-800", 23), ("Boeing 737 MAX 8", 3)],
        regs: &[("XA-@@@", 6), ("EI-@@@", 8)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("LH", "Lufthansa", Some("LH"), Some("DLH"), &["DE"], 53,
        callsign: 0.3962, cargo: 0.0, digits: &[(3, 29), (4, 24)],
        models: &[("Airbus A340-300", 16), ("Boeing 787-9", 9), ("Airbus A340", 4)],
        regs: &[("D-A@@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("UA", "United", Some("UA"), Some("UAL"), &["US"], 54,
        callsign: 0.7593, cargo: 0.0, digits: &[(3, 44), (4, 10)],
        models: &[("Boeing 737", 21), ("Boeing 737 MAX 8", 19), ("Boeing 737-800", 4)],
        regs: &[("N#####", 1)], t2: 0.0, codeshare: 0.137, partners: &[("G7", 7)]),
    airline!("NK", "Spirit", Some("NK"), Some("NKS"), &["US"], 54,
        callsign: 0.8704, cargo: 0.0, digits: &[(3, 41), (4, 13)],
        models: &[("Airbus A320 NEO", 52), ("Airbus A320 (Sharklets)", 2)],
        regs: &[("N###NK", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("EK", "Emirates", Some("EK"), Some("UAE"), &["AE"], 42,
        callsign: 0.8333, cargo: 0.0, digits: &[(3, 42)],
        models: &[("Boeing 777-300ER", 26), ("Boeing 777", 8), ("Boeing 777-300", 8)],
        regs: &[("A6-E@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("UX", "Air Europa", Some("UX"), Some("AEA"), &["ES"], 42,
        callsign: 0.8333, cargo: 0.0, digits: &[(3, 42)],
        models: &[("Boeing 787-8", 40)],
        regs: &[("EC-@@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("6N", "Niger", Some("6N"), Some("NIN"), &["CO"], 41,
        callsign: 0.0, cargo: 1.0, digits: &[(3, 33), (4, 8)],
        models: NONE, regs: &[("HK-####", 1)], t2: 1.0, codeshare: 0.0, partners: NONE),
    airline!("KL", "KLM", Some("KL"), Some("KLM"), &["NL"], 40,
        callsign: 0.475, cargo: 0.0, digits: &[(3, 40)],
        models: &[("Boeing 787", 23), ("Boeing 787-9", 12), ("Boeing 787-10", 5)],
        regs: &[("PH-B@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("AF", "Air France", Some("AF"), Some("AFR"), &["FR"], 38,
        callsign: 0.7895, cargo: 0.0, digits: &[(3, 37), (4, 1)],
        models: &[("Airbus A350-900", 33), ("Airbus A350", 4)],
        regs: &[("F-H@@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("AR", "Aerolineas Argentinas", Some("AR"), Some("ARG"), &["AR"], 37,
        callsign: 0.2162, cargo: 0.0, digits: &[(4, 37)],
        models: &[("Boeing 737-700", 37)],
        regs: &[("LV-@@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("QT", "Avianca Cargo", Some("QT"), Some("TPA"), &["CO"], 33,
        callsign: 0.6364, cargo: 1.0, digits: &[(4, 33)],
        models: &[("Airbus A330-200", 17), ("Airbus A330-300", 3)],
        regs: &[("N###QT", 1)], t2: 0.818, codeshare: 0.0, partners: NONE),
    airline!("L7", "LATAM Cargo Colombia", Some("L7"), Some("LAE"), &["CO"], 32,
        callsign: 0.5625, cargo: 1.0, digits: &[(4, 32)],
        models: &[("Boeing 767-300", 16), ("Boeing 767", 1)],
        regs: &[("N###LA", 1)], t2: 0.844, codeshare: 0.0, partners: NONE),
    airline!("AI", "Air India", Some("AI"), Some("AIC"), &[], 28,
        callsign: 0.0, cargo: 1.0, digits: &[(4, 27), (3, 1)],
        models: NONE, regs: &[("VT-@@@", 1)], t2: 1.0, codeshare: 0.0, partners: NONE),
    airline!("4C", "LATAM Colombia", Some("4C"), Some("ARE"), &["CO"], 27,
        callsign: 1.0, cargo: 0.0, digits: &[(4, 27)],
        models: &[("Airbus A320", 25)],
        regs: &[("CC-B@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("PU", "Plus Ultra", Some("PU"), Some("PUE"), &["ES"], 23,
        callsign: 0.6522, cargo: 0.0, digits: &[(3, 23)],
        models: &[("Airbus A330", 19), ("Airbus A330-200", 2)],
        regs: &[("EC-@@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("D5", "DHL Aero Expreso", Some("D5"), Some("DAE"), &["PA"], 22,
        callsign: 0.0, cargo: 1.0, digits: &[(4, 17), (3, 5)],
        models: NONE, regs: &[("HP-####DAE", 1)], t2: 1.0, codeshare: 0.0, partners: NONE),
    airline!("DM", "Arajet", Some("DM"), Some("DWI"), &["DO"], 19,
        callsign: 0.6316, cargo: 0.0, digits: &[(4, 19)],
        models: &[("Boeing 737", 14), ("Boeing 737 MAX 8", 5)],
        regs: &[("HI-####", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("9E", "Endeavor Air", Some("9E"), Some("EDV"), &["US"], 0,
        callsign: 1.0, cargo: 0.0, digits: &[(3, 17)],
        models: NONE, regs: &[("N###US", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("FX", "FedEx - Federal Express", Some("FX"), Some("FDX"), &["US"], 15,
        callsign: 0.8667, cargo: 1.0, digits: &[(3, 15)],
        models: &[("Boeing 767-300", 9), ("Boeing 767-300 Freighter", 3), ("Boeing 727-100 Mixed", 1)],
        regs: &[("N###FE", 1)], t2: 0.4, codeshare: 0.0, partners: NONE),
    airline!("EY", "Etihad", Some("EY"), Some("ETD"), &["AE"], 14,
        callsign: 0.0, cargo: 0.0, digits: &[(4, 14)],
        models: &[("Boeing 787-8", 6)],
        regs: &[("A6-B@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("MP", "Martinair", Some("MP"), Some("MPH"), &["NL"], 12,
        callsign: 0.8333, cargo: 1.0, digits: &[(4, 12)],
        models: &[("Boeing 747", 6), ("Boeing 747-400", 4), ("Boeing 747-400 Freighter", 1)],
        regs: &[("PH-M@@", 1)], t2: 0.583, codeshare: 0.0, partners: NONE),
    airline!("AC", "Air Canada", Some("AC"), Some("ACA"), &["CA"], 12,
        callsign: 0.5, cargo: 0.1667, digits: &[(4, 12)],
        models: &[("Boeing 767-300", 6), ("Boeing 767", 4)],
        regs: &[("C-F@@@", 1)], t2: 0.167, codeshare: 0.2, partners: &[("QK", 1), ("RV", 1)]),
    airline!("PT", "Piedmont", Some("PT"), Some("PDT"), &["US"], 0,
        callsign: 1.0, cargo: 0.0, digits: &[(3, 5), (4, 6)],
        models: NONE, regs: &[("N###AA", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("GB", "ABX Air", Some("GB"), Some("ABX"), &["US"], 11,
        callsign: 1.0, cargo: 1.0, digits: &[(4, 11)],
        models: &[("Boeing 767-300", 8), ("Boeing 767", 1)],
        regs: &[("N###CY", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("T9", "Turpial", Some("T9"), Some("VTU"), &["VE"], 11,
        callsign: 0.0, cargo: 0.0, digits: &[(3, 10), (4, 1)],
        models: &[("Boeing 737-400", 8)],
        regs: &[("YV###T", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("9V", "Avior", Some("9V"), Some("ROI"), &["VE"], 10,
        callsign: 0.0, cargo: 0.0, digits: &[(4, 10)],
        models: &[("Boeing 737", 10)],
        regs: &[("YV###", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("5Y", "Atlas Air", Some("5Y"), Some("GTI"), &["US"], 8,
        callsign: 1.0, cargo: 0.5, digits: &[(4, 7), (2, 1)],
        models: &[("Boeing 767-300", 7), ("Boeing 747-400", 1)],
        regs: &[("N###GT", 1)], t2: 0.5, codeshare: 0.0, partners: NONE),
    airline!("VB", "VivaAerobus", Some("VB"), Some("VIV"), &["MX"], 8,
        callsign: 0.5, cargo: 0.0, digits: &[(3, 8)],
        models: &[("Airbus A320", 7), ("Airbus A320 NEO", 1)],
        regs: &[("XA-V@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("G7", "GoJet", Some("G7"), Some("GJS"), &["US"], 0,
        callsign: 1.0, cargo: 0.0, digits: &[(3, 7)],
        models: NONE, regs: &[("N#####", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("M6", "Amerijet International", Some("M6"), Some("AJT"), &["US"], 7,
        callsign: 0.5714, cargo: 1.0, digits: &[(4, 3), (3, 4)],
        models: &[("Boeing 767-300", 4), ("Boeing 767-300 Freighter", 3)],
        regs: &[("N###AJ", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("TAESCOL", "TAESCOL", None, None, &["CO"], 6,
        callsign: 0.0, cargo: 1.0, digits: &[],
        models: NONE, regs: &[("HK-####", 1)], t2: 1.0, codeshare: 0.0, partners: NONE),
    airline!("G6", "GlobalX Airlines", Some("G6"), Some("GXA"), &["US"], 5,
        callsign: 1.0, cargo: 0.0, digits: &[(4, 5)],
        models: &[("Airbus A321", 4), ("Airbus A320", 1)],
        regs: &[("N###GX", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("M7", "Masair", Some("M7"), Some("MAA"), &["MX"], 5,
        callsign: 0.6, cargo: 1.0, digits: &[(4, 5)],
        models: &[("Airbus A330-300", 3)],
        regs: &[("XA-L@@", 1)], t2: 1.0, codeshare: 0.0, partners: NONE),
    airline!("XL", "LATAM Ecuador", Some("XL"), Some("LNE"), &["EC"], 4,
        callsign: 1.0, cargo: 0.0, digits: &[(3, 4)],
        models: &[("Boeing 767-300", 4)],
        regs: &[("HC-C@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("WK", "Edelweiss Air", Some("WK"), Some("EDW"), &["CH"], 4,
        callsign: 0.75, cargo: 0.0, digits: &[(2, 4)],
        models: &[("Airbus A340-300", 3), ("Airbus A340", 1)],
        regs: &[("HB-J@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("5X", "UPS", Some("5X"), Some("UPS"), &["US"], 3,
        callsign: 1.0, cargo: 1.0, digits: &[(3, 3)],
        models: &[("Boeing 767-300", 3)],
        regs: &[("N###UP", 1)], t2: 0.333, codeshare: 0.0, partners: NONE),
    airline!("QK", "Jazz", Some("QK"), Some("JZA"), &["CA"], 0,
        callsign: 1.0, cargo: 0.0, digits: &[(4, 2)],
        models: NONE, regs: &[("C-G@@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("RV", "Air Canada Rouge", Some("RV"), Some("ROU"), &["CA"], 2,
        callsign: 1.0, cargo: 0.0, digits: &[(4, 2)],
        models: &[("Boeing 767-300", 1)],
        regs: &[("C-F@@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    airline!("M3", "ABSA Cargo - Aerolinhas Brasileras S.A.", Some("M3"), Some("LTG"), &["BR"], 3,
        callsign: 1.0, cargo: 1.0, digits: &[(4, 3)],
        models: &[("Boeing 767-300", 3)],
        regs: &[("PR-A@@", 1)], t2: 1.0, codeshare: 0.0, partners: NONE),
    airline!("7N", "MetroJets", Some("7N"), Some("MTD"), &["US"], 1,
        callsign: 0.0, cargo: 1.0, digits: &[(3, 1)],
        models: NONE, regs: &[("N###MJ", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
    // Not at BOG; staffs routes between European hubs.
    airline!("BA", "British Airways", Some("BA"), Some("BAW"), &["GB"], 60,
        callsign: 0.8, cargo: 0.0, digits: &[(3, 3), (4, 1)],
        models: &[("Airbus A320", 5), ("Boeing 777-300ER", 2), ("Boeing 787-9", 2)],
        regs: &[("G-@@@@", 1)], t2: 0.0, codeshare: 0.0, partners: NONE),
];

/// Airlines tried, by weight, on a route where neither end is a home market
/// of any airline above (e.g. Havana–Lima).
pub(crate) const FALLBACK_AIRLINES: &[&str] = &["CM", "AV", "LA", "AA", "IB"];

pub(crate) fn airline(key: &str) -> Option<&'static AirlineInfo> {
    AIRLINES.iter().find(|a| a.key == key)
}

/// Physical flights operated at BOG over the 21 days: (operator airline
/// key, other airport IATA, flights), both directions together. Used as the
/// route and airline mix when BOG is queried.
#[rustfmt::skip]
pub(crate) static BOG_ROUTES: &[(&str, &str, u32)] = &[
    ("AV", "MDE", 670), ("AV", "CLO", 534), ("AV", "CTG", 435), ("AV", "PEI", 354), ("AV", "BAQ", 351), ("AV", "SMR", 343),
    ("LA", "MDE", 338), ("AV", "CUC", 286), ("LA", "CLO", 285), ("AV", "BGA", 265), ("LA", "CTG", 235), ("LA", "BAQ", 214),
    ("AV", "ADZ", 196), ("CM", "PTY", 177), ("AV", "MTR", 175), ("LA", "SMR", 170), ("LA", "BGA", 154), ("LA", "ADZ", 151),
    ("JA", "CTG", 141), ("VE", "EYP", 136), ("LA", "PEI", 122), ("AV", "MAD", 120), ("AV", "VUP", 119), ("AV", "LIM", 114),
    ("VE", "EOH", 114), ("AV", "GYE", 112), ("AV", "PTY", 112), ("AV", "AXM", 111), ("JA", "MDE", 109), ("P5", "MDE", 109),
    ("AV", "MIA", 104), ("IB", "MAD", 103), ("VE", "NVA", 95), ("AV", "UIO", 93), ("AV", "RCH", 90), ("AV", "SJO", 89),
    ("JA", "SMR", 88), ("VE", "CLO", 87), ("AV", "SAL", 86), ("AV", "CUN", 85), ("AV", "PUJ", 81), ("AA", "MIA", 79),
    ("AV", "PSO", 79), ("LA", "MTR", 79), ("AV", "JFK", 78), ("AV", "MEX", 78), ("P5", "CTG", 75), ("VE", "MZL", 75),
    ("P5", "SMR", 72), ("AV", "GRU", 65), ("AV", "GUA", 64), ("LA", "LIM", 64), ("9R", "EOH", 62), ("AV", "SCL", 61),
    ("AM", "MEX", 56), ("AV", "CUR", 56), ("AV", "NVA", 56), ("LA", "CUC", 53), ("AV", "AUA", 52), ("AV", "IAD", 52),
    ("AV", "SJU", 51), ("LA", "UIO", 51), ("DL", "ATL", 49), ("LA", "PSO", 49), ("VE", "FLA", 47), ("JA", "PEI", 45),
    ("LA", "LET", 45), ("AV", "SDQ", 44), ("AV", "BCN", 42), ("AV", "EJA", 42), ("AV", "EZE", 42), ("AV", "IBE", 42),
    ("AV", "MCO", 42), ("VE", "PPN", 42), ("9R", "PUU", 41), ("EK", "MIA", 41), ("AV", "GIG", 40), ("LA", "MIA", 40),
    ("LA", "SCL", 40), ("UX", "MAD", 40), ("9R", "FLA", 39), ("NK", "FLL", 39), ("AF", "CDG", 37), ("9R", "AUC", 36),
    ("LA", "AXM", 36), ("LA", "RCH", 36), ("VE", "PTX", 36), ("VE", "UIB", 36), ("AR", "AEP", 35), ("AA", "DFW", 34),
    ("P5", "CLO", 34), ("AV", "CDG", 33), ("AV", "LPB", 33), ("DL", "JFK", 33), ("AV", "EYP", 30), ("AV", "VVC", 29),
    ("LA", "GRU", 29), ("LH", "FRA", 29), ("9R", "APO", 28), ("VE", "SJE", 28), ("AV", "IPI", 27), ("AV", "LET", 27),
    ("AV", "PPN", 27), ("LA", "MAD", 27), ("VE", "AUC", 27), ("VE", "EJA", 26), ("9R", "PDA", 25), ("AV", "YYZ", 25),
    ("P5", "CCS", 24), ("9R", "PCR", 23), ("9R", "TCO", 23), ("P5", "BAQ", 23), ("AV", "FLL", 22), ("L7", "MIA", 21),
    ("LA", "MCO", 21), ("LA", "NVA", 21), ("TK", "IST", 21), ("UA", "EWR", 21), ("KL", "AMS", 20), ("KL", "CTG", 20),
    ("TK", "PTY", 20), ("UA", "IAH", 20), ("9R", "PTX", 19), ("9R", "UIB", 19), ("AV", "VVI", 19), ("QT", "MIA", 19),
    ("P5", "PUJ", 18), ("VE", "PUU", 18), ("AV", "BOS", 17), ("P5", "BLB", 17), ("9R", "MVP", 15), ("AV", "CUZ", 15),
    ("AV", "LHR", 15), ("DM", "SDQ", 15), ("FX", "MIA", 15), ("LA", "IBE", 15), ("P5", "AUA", 15), ("4C", "MIA", 14),
    ("AV", "HAV", 14), ("9R", "CZU", 13), ("D5", "MIA", 13), ("P5", "SJO", 13), ("9R", "SJE", 12), ("AV", "MAO", 12),
    ("AV", "MVD", 12), ("AV", "YUL", 12), ("G3", "EZE", 12), ("LA", "CCS", 12), ("LA", "EYP", 12), ("NK", "MCO", 12),
    ("P5", "BGA", 12), ("P5", "HAV", 12), ("P5", "PEI", 12), ("4C", "MCO", 11), ("AV", "CCS", 11), ("G3", "GRU", 11),
    ("P5", "AXM", 11), ("PU", "CTG", 11), ("T9", "VLN", 11), ("9R", "TME", 10), ("9V", "CCS", 10), ("MP", "MIA", 10),
    ("PU", "MAD", 10), ("AV", "ASU", 9), ("AV", "XPL", 9), ("GB", "MIA", 9), ("5Y", "MIA", 8), ("P5", "LIM", 8),
    ("P5", "SDQ", 8), ("6N", "LET", 7), ("9R", "BUN", 7), ("9R", "RVE", 7), ("AV", "ORD", 7), ("9R", "SVI", 6),
    ("9R", "VVC", 6), ("AI", "LIM", 6), ("AV", "TQO", 6), ("EY", "LHR", 6), ("G3", "BSB", 6), ("VB", "GDL", 6),
    ("AI", "LET", 5), ("P5", "CUN", 5), ("6N", "ADZ", 4), ("6N", "BAQ", 4), ("6N", "CCS", 4), ("9R", "IPI", 4),
    ("AC", "SJO", 4), ("D5", "PTY", 4), ("G6", "AEX", 4), ("IB", "RIX", 4), ("JA", "BAQ", 4), ("P5", "CUR", 4),
    ("XL", "MIA", 4), ("5X", "MIA", 3), ("6N", "PDA", 3), ("6N", "PTY", 3), ("AC", "MIA", 3), ("AI", "CCS", 3),
    ("AV", "AEP", 3), ("M6", "MIA", 3), ("TAESCOL", "PTY", 3), ("6N", "MVP", 2), ("6N", "VLN", 2), ("AC", "SJU", 2),
    ("AI", "CTG", 2), ("AI", "IQT", 2), ("AI", "UIO", 2), ("AI", "VVI", 2), ("AV", "GEO", 2), ("AV", "UIB", 2),
    ("DM", "PUJ", 2), ("L7", "SCL", 2), ("L7", "VCP", 2), ("M6", "POS", 2), ("M6", "SJU", 2), ("M7", "NLU", 2),
    ("MP", "AMS", 2), ("P5", "ADZ", 2), ("QT", "NLU", 2), ("QT", "SAL", 2), ("QT", "UIO", 2), ("QT", "VCP", 2),
    ("TK", "MIA", 2), ("VE", "VVC", 2), ("WK", "CTG", 2), ("WK", "ZRH", 2), ("6N", "AUA", 1), ("6N", "AUC", 1),
    ("6N", "PCR", 1), ("7N", "NLU", 1), ("M3", "MIA", 2), ("M3", "VCP", 1), ("AC", "YYZ", 1), ("AI", "CLO", 1),
    ("AI", "CUR", 1), ("AI", "MAR", 1), ("AI", "MIA", 1), ("AI", "VVC", 1), ("D5", "CCS", 1), ("G6", "HRL", 1),
    ("IB", "BLB", 1), ("L7", "ANF", 1), ("L7", "ASU", 1), ("L7", "GUA", 1), ("L7", "UIO", 1), ("M7", "PTY", 1),
    ("M7", "UIO", 1), ("M7", "VCP", 1), ("QT", "AGT", 1), ("QT", "MDE", 1), ("QT", "MVD", 1), ("QT", "SDQ", 1),
    ("QT", "VIX", 1), ("RV", "MIA", 1), ("TAESCOL", "CCS", 1), ("TAESCOL", "MAR", 1), ("TAESCOL", "MIA", 1),
];

// ------------------------------------------------------------------ BOG gates and belts

/// Departure gates at BOG: (terminal, gate, departures).
#[rustfmt::skip]
pub(crate) static BOG_GATES: &[(&str, &str, u32)] = &[
    ("2", "G4", 103), ("2", "G5", 88), ("1", "D12", 62), ("1", "D4", 56), ("1", "D5", 55), ("1", "C1", 53),
    ("1", "C3", 53), ("1", "D10", 53), ("1", "D9", 51), ("1", "D13", 51), ("1", "D15B", 51), ("1", "D3", 50),
    ("1", "D1", 49), ("1", "C5", 48), ("1", "D11", 48), ("1", "D15A", 48), ("1", "C6", 47), ("1", "C2", 47),
    ("1", "D14", 47), ("1", "A11", 47), ("1", "D8", 46), ("1", "A13", 43), ("1", "D15C", 41), ("1", "A14", 41),
    ("2", "H1", 40), ("1", "A5", 39), ("1", "A12", 38), ("1", "D2", 38), ("1", "A3", 35), ("1", "A8", 34),
    ("1", "A10", 34), ("1", "A6", 33), ("1", "D6A", 33), ("2", "H2", 32), ("1", "A9A", 31), ("2", "H3", 31),
    ("1", "A9B", 30), ("1", "A4", 30), ("1", "B2", 29), ("1", "D6C", 28), ("1", "A1", 28), ("1", "B1", 26),
    ("1", "B3", 25), ("1", "B5", 25), ("1", "B6", 25), ("1", "D6D", 24), ("1", "B7A", 23), ("1", "B7B", 21),
    ("1", "C4A", 21), ("1", "D6F", 18), ("1", "A2", 18), ("1", "D6B", 18), ("2", "G1", 16), ("1", "C4D", 15),
    ("1", "C4C", 15), ("1", "D6E", 14), ("1", "C7B", 13), ("1", "C7A", 13), ("1", "D", 13), ("2", "G2", 10),
    ("1", "C8", 8), ("1", "A7A", 7), ("1", "A7B", 6), ("1", "C9", 5), ("1", "C4F", 5), ("1", "A7C", 4),
    ("1", "AB", 3), ("1", "C4B", 2), ("2", "G3", 2), ("2", "H", 2), ("1", "C4E", 1), ("2", "G", 1),
    ("1", "C", 1),
];

/// Baggage belts at BOG: (terminal, belt, arrivals).
#[rustfmt::skip]
pub(crate) static BOG_BELTS: &[(&str, &str, u32)] = &[
    ("1", "07", 205), ("1", "10", 202), ("1", "08", 185), ("1", "11", 177), ("1", "12", 173), ("1", "13", 163),
    ("2", "CD2", 149), ("2", "CD1", 121), ("1", "09", 120), ("1", "05", 108), ("1", "03", 105), ("1", "06", 102),
    ("1", "04", 98), ("1", "01", 96), ("1", "02", 93), ("2", "CD3", 81),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airports;

    #[test]
    fn routes_name_known_airlines_and_airports() {
        for (al, ap, n) in BOG_ROUTES {
            assert!(airline(al).is_some(), "airline {al}");
            assert!(airports::by_iata(ap).is_some(), "airport {ap}");
            assert!(*n > 0);
        }
    }

    #[test]
    fn partners_and_fallbacks_are_known() {
        for a in AIRLINES {
            for (p, _) in a.partners {
                assert!(airline(p).is_some(), "{} partner {p}", a.key);
            }
            assert!((0.0..=1.0).contains(&a.callsign) && (0.0..=1.0).contains(&a.cargo));
            assert!((0.0..=1.0).contains(&a.bog_t2) && (0.0..=1.0).contains(&a.codeshare));
            assert_eq!(a.iata.is_none(), a.digits.is_empty(), "{}", a.key);
        }
        for k in FALLBACK_AIRLINES {
            assert!(airline(k).is_some());
        }
    }

    #[test]
    fn archive_totals_add_up() {
        let arr: u32 = HOURS_ARRIVAL.iter().sum();
        let dep: u32 = HOURS_DEPARTURE.iter().sum();
        // Records whose local date is the file's date: 12,665 minus 11.
        assert_eq!(arr + dep, 12_665 - 11);
        assert_eq!(MINUTES.iter().sum::<u32>(), 12_665);
        assert!(bog_records_per_day(Direction::Arrival) > 300.0);
    }
}
