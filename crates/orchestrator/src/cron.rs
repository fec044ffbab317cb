//! Cron expressions with Vixie-cron semantics, evaluated in a time zone.
//!
//! Why our own parser: the `cron` crate numbers weekdays Quartz-style
//! (1 = Sunday) and ANDs day-of-month with day-of-week, so `0 9 * * 1-5`
//! would silently mean Sunday–Thursday; `croner` pulls in `derive_builder`,
//! whose proc-macro features would force a rebuild of the bundled DuckDB.
//! What users write here is what `crontab(5)` documents:
//!
//! - 5 fields `minute hour day-of-month month day-of-week`, or 6 with a
//!   leading `second`; `*`, `a`, `a-b`, `*/n`, `a-b/n`, `a/n`, lists with `,`;
//!   month and weekday names (`JAN`, `MON`); weekday 0 or 7 is Sunday.
//! - `@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually`.
//! - When both day fields are restricted a day matches if either does.
//! - Local times that do not exist (the spring-forward gap) are skipped; a
//!   time that exists twice (fall back) fires once, at its first occurrence.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl std::str::FromStr for CronExpr {
    type Err = String;

    fn from_str(text: &str) -> Result<CronExpr, String> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            t if t.starts_with('@') => return Err(format!("unknown shorthand `{t}`")),
            t => t,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (sec, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(format!(
                    "expected 5 fields (minute hour day month weekday) or 6 (with seconds first), found {n}"
                ))
            }
        };
        let mut weekdays = field(rest[4], "weekday", 0, 7, Some(&WEEKDAYS))?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        Ok(CronExpr {
            seconds: field(sec, "second", 0, 59, None)?,
            minutes: field(rest[0], "minute", 0, 59, None)?,
            hours: field(rest[1], "hour", 0, 23, None)?,
            days: field(rest[2], "day of month", 1, 31, None)?,
            months: field(rest[3], "month", 1, 12, Some(&MONTHS))?,
            weekdays,
            days_restricted: !rest[2].starts_with('*'),
            weekdays_restricted: !rest[4].starts_with('*'),
        })
    }
}

fn value(
    text: &str,
    what: &str,
    min: u32,
    max: u32,
    names: Option<&[&str]>,
) -> Result<u32, String> {
    let v = if let Some(names) = names {
        let offset = if what == "month" { 1 } else { 0 };
        match names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
            Some(i) => i as u32 + offset,
            None => text
                .parse::<u32>()
                .map_err(|_| format!("{what} `{text}` is not a number or a name"))?,
        }
    } else {
        text.parse::<u32>()
            .map_err(|_| format!("{what} `{text}` is not a number"))?
    };
    if v < min || v > max {
        return Err(format!("{what} {v} is out of range {min}-{max}"));
    }
    Ok(v)
}

fn field(
    text: &str,
    what: &str,
    min: u32,
    max: u32,
    names: Option<&[&str]>,
) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let s: u32 = s
                    .parse()
                    .map_err(|_| format!("{what} step `{s}` is not a number"))?;
                if s == 0 {
                    return Err(format!("{what} step must be at least 1"));
                }
                (r, Some(s))
            }
            None => (part, None),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (
                value(a, what, min, max, names)?,
                value(b, what, min, max, names)?,
            );
            if a > b {
                return Err(format!("{what} range `{range}` runs backwards"));
            }
            (a, b)
        } else if range.is_empty() {
            return Err(format!("empty {what} in `{text}`"));
        } else {
            let a = value(range, what, min, max, names)?;
            (a, if step.is_some() { max } else { a })
        };
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

fn has(bits: u64, v: u32) -> bool {
    bits & (1 << v) != 0
}

/// The set values of `bits` from `from` upwards.
fn from(bits: u64, from: u32) -> impl Iterator<Item = u32> {
    (from..64).filter(move |v| has(bits, *v))
}

impl CronExpr {
    fn day_matches(&self, d: NaiveDate) -> bool {
        if !has(self.months, d.month()) {
            return false;
        }
        let dom = has(self.days, d.day());
        let dow = has(self.weekdays, d.weekday().num_days_from_sunday());
        if self.days_restricted && self.weekdays_restricted {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// The first fire time strictly after `after`, or None if there is none
    /// in the next eight years (e.g. `0 0 30 2 *`).
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local_after = after.with_timezone(&tz).naive_local();
        let mut day = local_after.date();
        for _ in 0..(366 * 8) {
            if self.day_matches(day) {
                // start each field at the current value while still on the
                // current day/hour/minute: a search costs a few steps, not 3,600
                let same_day = day == local_after.date();
                let now = local_after.time();
                let (ch, cm, cs) = (
                    now.hour_(),
                    chrono::Timelike::minute(&now),
                    chrono::Timelike::second(&now),
                );
                for h in from(self.hours, if same_day { ch } else { 0 }) {
                    let same_hour = same_day && h == ch;
                    for m in from(self.minutes, if same_hour { cm } else { 0 }) {
                        let same_minute = same_hour && m == cm;
                        for s in from(self.seconds, if same_minute { cs } else { 0 }) {
                            let Some(t) = day.and_hms_opt(h, m, s) else {
                                continue;
                            };
                            if t <= local_after {
                                continue;
                            }
                            if let Some(utc) = resolve(tz, t, after) {
                                return Some(utc);
                            }
                        }
                    }
                }
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// Fire times in `(after, until]`, at most `limit` of them.
    pub fn fires_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        tz: Tz,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = after;
        while out.len() < limit {
            match self.next_after(t, tz) {
                Some(n) if n <= until => {
                    out.push(n);
                    t = n;
                }
                _ => break,
            }
        }
        out
    }
}

trait HourOf {
    fn hour_(&self) -> u32;
}
impl HourOf for chrono::NaiveTime {
    fn hour_(&self) -> u32 {
        chrono::Timelike::hour(self)
    }
}

/// A local time as UTC: None in a DST gap; the first instant of an ambiguous
/// time (the second if the first is not after `after`, which cannot fire
/// twice since the search moves on in local time).
fn resolve(tz: Tz, t: NaiveDateTime, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(x) => Some(x.with_timezone(&Utc)).filter(|u| *u > after),
        LocalResult::Ambiguous(a, _) => {
            let a = a.with_timezone(&Utc);
            (a > after).then_some(a)
        }
        LocalResult::None => None,
    }
}

/// Fixed-interval triggers are anchored on the Unix epoch, so every process
/// (and every restart) agrees on the instants: `every = "15m"` fires at :00,
/// :15, :30, :45.
pub fn interval_next_after(after: DateTime<Utc>, every: std::time::Duration) -> DateTime<Utc> {
    let step = every.as_millis().max(1) as i64;
    let ms = after.timestamp_millis();
    let next = (ms.div_euclid(step) + 1) * step;
    DateTime::<Utc>::from_timestamp_millis(next).unwrap_or(after + Duration::milliseconds(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn cron(s: &str) -> CronExpr {
        s.parse().unwrap()
    }

    #[test]
    fn every_minute_and_hourly() {
        let c = cron("* * * * *");
        assert_eq!(
            c.next_after(utc("2024-08-12T10:00:30Z"), Tz::UTC),
            Some(utc("2024-08-12T10:01:00Z"))
        );
        assert_eq!(
            c.next_after(utc("2024-08-12T10:01:00Z"), Tz::UTC),
            Some(utc("2024-08-12T10:02:00Z"))
        );
        let h = cron("@hourly");
        assert_eq!(
            h.next_after(utc("2024-08-12T23:10:00Z"), Tz::UTC),
            Some(utc("2024-08-13T00:00:00Z"))
        );
    }

    #[test]
    fn weekdays_are_unix_numbered() {
        // 2024-08-10 is a Saturday: Mon-Fri 09:00 next fires Monday the 12th
        let c = cron("0 9 * * 1-5");
        assert_eq!(
            c.next_after(utc("2024-08-10T12:00:00Z"), Tz::UTC),
            Some(utc("2024-08-12T09:00:00Z"))
        );
        // 7 and 0 are both Sunday; names work
        assert_eq!(cron("0 0 * * 7"), cron("0 0 * * SUN"));
        assert_eq!(cron("0 0 * * 0"), cron("0 0 * * sun"));
    }

    #[test]
    fn day_fields_or_when_both_restricted() {
        // the 15th or any Monday
        let c = cron("0 0 15 * MON");
        let fires = c.fires_between(
            utc("2024-08-01T00:00:00Z"),
            utc("2024-08-31T00:00:00Z"),
            Tz::UTC,
            100,
        );
        let days: Vec<u32> = fires.iter().map(|f| f.day()).collect();
        assert_eq!(days, vec![5, 12, 15, 19, 26]);
    }

    #[test]
    fn steps_lists_and_seconds() {
        let c = cron("*/20 8-10/2 * * *");
        let fires = c.fires_between(
            utc("2024-08-12T00:00:00Z"),
            utc("2024-08-12T23:59:00Z"),
            Tz::UTC,
            100,
        );
        let hm: Vec<String> = fires
            .iter()
            .map(|f| f.format("%H:%M").to_string())
            .collect();
        assert_eq!(hm, ["08:00", "08:20", "08:40", "10:00", "10:20", "10:40"]);
        let s = cron("*/15 * * * * *");
        assert_eq!(
            s.next_after(utc("2024-08-12T10:00:16Z"), Tz::UTC),
            Some(utc("2024-08-12T10:00:30Z"))
        );
    }

    #[test]
    fn time_zone_and_dst() {
        let bogota: Tz = "America/Bogota".parse().unwrap();
        assert_eq!(
            cron("0 2 * * *").next_after(utc("2024-08-12T00:00:00Z"), bogota),
            Some(utc("2024-08-12T07:00:00Z"))
        );
        let ny: Tz = "America/New_York".parse().unwrap();
        // 2024-03-10 02:30 does not exist in New York: skipped to the 11th
        assert_eq!(
            cron("30 2 * * *").next_after(utc("2024-03-10T00:00:00Z"), ny),
            Some(utc("2024-03-11T06:30:00Z"))
        );
        // 2024-11-03 01:30 exists twice: fires once, at the first (EDT)
        let c = cron("30 1 * * *");
        let first = c.next_after(utc("2024-11-03T00:00:00Z"), ny).unwrap();
        assert_eq!(first, utc("2024-11-03T05:30:00Z"));
        assert_eq!(c.next_after(first, ny), Some(utc("2024-11-04T06:30:00Z")));
    }

    #[test]
    fn impossible_and_bad_expressions() {
        assert_eq!(
            cron("0 0 30 2 *").next_after(utc("2024-01-01T00:00:00Z"), Tz::UTC),
            None
        );
        for bad in [
            "",
            "* * * *",
            "61 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "*/0 * * * *",
            "5-1 * * * *",
            "x * * * *",
            "@sometimes",
            "* * * * 8",
        ] {
            assert!(bad.parse::<CronExpr>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn intervals_are_epoch_aligned() {
        let every = std::time::Duration::from_secs(900);
        assert_eq!(
            interval_next_after(utc("2024-08-12T10:07:00Z"), every),
            utc("2024-08-12T10:15:00Z")
        );
        assert_eq!(
            interval_next_after(utc("2024-08-12T10:15:00Z"), every),
            utc("2024-08-12T10:30:00Z")
        );
    }
}
