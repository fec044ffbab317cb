//! Python's `datetime` and `pytz` as dbt's context has them
//! (`modules.datetime`, `modules.pytz`, `run_started_at`): dates, naive and
//! aware datetimes, timedeltas and time zones, with Python's `str()`,
//! `strftime`, `isoformat`, `timestamp()`, `astimezone`, `replace` and
//! pytz's `timezone(name)`, `localize` and `normalize`.
//!
//! Time zones come from the tz database that chrono-tz compiles in (the one
//! the orchestrator and simulator already use). pytz's own rules are kept
//! where projects can see them: a zone's offsets are rounded to the minute,
//! and a zone given straight to `datetime(..., tzinfo=zone)` or
//! `replace(tzinfo=zone)` is bound to its first offset (local mean time,
//! `-07:53` for America/Los_Angeles), which is why pytz documents
//! `localize` for local times.
//!
//! Jinja has no operator overloading, so `d - modules.datetime.timedelta(1)`
//! is rewritten to a filter call by [`rewrite_timedelta_ops`]; the arithmetic
//! itself is [`add`] and [`sub`].

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};
use chrono_tz::{OffsetComponents, OffsetName};
use minijinja::value::{DynObject, Object, ObjectRepr, Value};
use minijinja::{Environment, Error as JError, ErrorKind, State};

use crate::pyargs::Args;

fn err(msg: impl Into<String>) -> JError {
    JError::new(ErrorKind::InvalidOperation, msg.into())
}

/// Which time zone a tzinfo belongs to.
#[derive(Debug, Clone, PartialEq)]
enum Zone {
    /// `pytz.utc`, `datetime.timezone.utc`
    Utc,
    /// `datetime.timezone(timedelta(...))`: a fixed offset in seconds
    Fixed(i32),
    /// `pytz.timezone(name)`: a zone of the tz database
    Db(chrono_tz::Tz),
}

/// A tzinfo: a zone bound to one of its offsets, as pytz binds each aware
/// datetime (and `pytz.timezone(name)` itself) to one.
#[derive(Debug, Clone)]
pub struct TzInfo {
    zone: Zone,
    /// Seconds east of UTC.
    offset: i32,
    abbrev: String,
}

/// pytz rounds every offset to the nearest minute (Python's datetime of
/// its day refused seconds).
fn pytz_round(secs: i32) -> i32 {
    (secs + 30).div_euclid(60) * 60
}

/// `+HH:MM` as Python's `str()` and `isoformat()` print an offset (seconds
/// only when there are some); `sep` is `""` for `%z`.
fn fmt_offset(secs: i32, sep: &str) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.abs();
    let mut s = format!("{sign}{:02}{sep}{:02}", a / 3600, a % 3600 / 60);
    if a % 60 != 0 {
        s.push_str(&format!("{sep}{:02}", a % 60));
    }
    s
}

impl TzInfo {
    fn utc() -> TzInfo {
        TzInfo {
            zone: Zone::Utc,
            offset: 0,
            abbrev: "UTC".into(),
        }
    }

    /// `datetime.timezone(offset)`; its name is `UTC±HH:MM` as Python's.
    fn fixed(secs: i32) -> TzInfo {
        if secs == 0 {
            return TzInfo::utc();
        }
        TzInfo {
            zone: Zone::Fixed(secs),
            offset: secs,
            abbrev: format!("UTC{}", fmt_offset(secs, ":")),
        }
    }

    fn from_offset(tz: chrono_tz::Tz, o: &chrono_tz::TzOffset) -> TzInfo {
        let offset = pytz_round(o.fix().local_minus_utc());
        TzInfo {
            zone: Zone::Db(tz),
            offset,
            abbrev: o
                .abbreviation()
                .map(String::from)
                .unwrap_or_else(|| fmt_offset(offset, "")),
        }
    }

    /// `pytz.timezone(name)` as given: bound to the zone's first offset.
    fn zone_default(tz: chrono_tz::Tz) -> TzInfo {
        let first = NaiveDate::from_ymd_opt(1, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default();
        TzInfo::from_offset(tz, &tz.offset_from_utc_datetime(&first))
    }

    /// This zone's tzinfo at the instant `utc`.
    fn at_utc(&self, utc: &NaiveDateTime) -> TzInfo {
        match &self.zone {
            Zone::Db(tz) => TzInfo::from_offset(*tz, &tz.offset_from_utc_datetime(utc)),
            _ => self.clone(),
        }
    }

    /// pytz's `localize(wall, is_dst)`: the offset this zone has at the
    /// local time `wall`; in a repeated hour `is_dst` picks the summer
    /// offset, in a skipped one the offset before the change (`is_dst` false)
    /// or after it.
    fn localize(&self, wall: &NaiveDateTime, is_dst: bool) -> TzInfo {
        let Zone::Db(tz) = &self.zone else {
            return self.clone();
        };
        match tz.offset_from_local_datetime(wall) {
            chrono::LocalResult::Single(o) => TzInfo::from_offset(*tz, &o),
            chrono::LocalResult::Ambiguous(a, b) => {
                let summer = |o: &chrono_tz::TzOffset| !o.dst_offset().is_zero();
                let pick = if summer(&a) == is_dst { a } else { b };
                TzInfo::from_offset(*tz, &pick)
            }
            chrono::LocalResult::None => {
                // the offsets a day either side of the gap
                let before = tz.offset_from_utc_datetime(&(*wall - Duration::days(1)));
                let after = tz.offset_from_utc_datetime(&(*wall + Duration::days(1)));
                TzInfo::from_offset(*tz, if is_dst { &after } else { &before })
            }
        }
    }

    /// The zone's name as `str(tzinfo)` gives it.
    fn name(&self) -> String {
        match &self.zone {
            Zone::Utc => "UTC".into(),
            Zone::Fixed(_) => self.abbrev.clone(),
            Zone::Db(tz) => tz.name().into(),
        }
    }
}

/// A `tzinfo` value (`pytz.timezone(name)`, `pytz.utc`, `dt.tzinfo`).
#[derive(Debug)]
struct TzObj(TzInfo);

impl Object for TzObj {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "zone" | "key" => Some(Value::from(self.0.name())),
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let a = Args::new(args);
        let dt = a.get(0, "dt").and_then(|v| as_datetime(&v));
        match m {
            "localize" => {
                let d = dt.ok_or_else(|| err("localize() takes a datetime"))?;
                if d.tz.is_some() {
                    return Err(err("Not naive datetime (tzinfo is already set)"));
                }
                let is_dst = a.get(1, "is_dst").is_some_and(|v| v.is_true());
                let tz = self.0.localize(&d.wall, is_dst);
                Ok(DateTime { tz: Some(tz), ..d }.into_value())
            }
            "normalize" => {
                let d = dt.ok_or_else(|| err("normalize() takes a datetime"))?;
                let utc = d
                    .as_utc()
                    .ok_or_else(|| err("Naive time - no tzinfo set"))?;
                Ok(DateTime::at(utc, &self.0).into_value())
            }
            "utcoffset" | "dst" | "tzname" => {
                let tz = match &dt {
                    Some(d) => match &d.tz {
                        Some(_) => self.0.at_utc(&d.as_utc().unwrap_or(d.wall)),
                        None => self.0.localize(&d.wall, false),
                    },
                    None => self.0.clone(),
                };
                Ok(match m {
                    "utcoffset" => TimeDelta::secs(tz.offset as i64),
                    "tzname" => Value::from(tz.abbrev),
                    _ => TimeDelta::secs(match (&tz.zone, &dt) {
                        (Zone::Db(z), Some(d)) => z
                            .offset_from_utc_datetime(
                                &(d.wall - Duration::seconds(tz.offset as i64)),
                            )
                            .dst_offset()
                            .num_seconds(),
                        _ => 0,
                    }),
                })
            }
            "fromutc" => {
                let d = dt.ok_or_else(|| err("fromutc() takes a datetime"))?;
                Ok(DateTime::at(d.wall, &self.0).into_value())
            }
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.name())
    }
}

/// A `date` or a `datetime`, naive or aware: its wall time, and for an
/// aware one the tzinfo it is bound to.
#[derive(Debug, Clone)]
pub struct DateTime {
    wall: NaiveDateTime,
    is_date: bool,
    tz: Option<TzInfo>,
}

impl DateTime {
    /// A `datetime.date`.
    pub fn date(d: NaiveDate) -> DateTime {
        DateTime {
            wall: d.and_hms_opt(0, 0, 0).unwrap_or_default(),
            is_date: true,
            tz: None,
        }
    }

    /// A naive `datetime.datetime`.
    pub fn naive(wall: NaiveDateTime) -> DateTime {
        DateTime {
            wall,
            is_date: false,
            tz: None,
        }
    }

    /// An aware `datetime.datetime` in UTC (`datetime.now(pytz.utc)`, as
    /// dbt's `run_started_at`).
    pub fn utc(utc: NaiveDateTime) -> DateTime {
        DateTime {
            wall: utc,
            is_date: false,
            tz: Some(TzInfo::utc()),
        }
    }

    /// The instant `utc` seen in `tz`'s zone.
    fn at(utc: NaiveDateTime, tz: &TzInfo) -> DateTime {
        let tz = tz.at_utc(&utc);
        DateTime {
            wall: utc + Duration::seconds(tz.offset as i64),
            is_date: false,
            tz: Some(tz),
        }
    }

    pub fn into_value(self) -> Value {
        Value::from_object(self)
    }

    /// The instant in UTC, for an aware datetime.
    fn as_utc(&self) -> Option<NaiveDateTime> {
        self.tz
            .as_ref()
            .map(|t| self.wall - Duration::seconds(t.offset as i64))
    }

    /// The instant, taking a naive datetime as the machine's local time (as
    /// Python's `timestamp()` and `astimezone()` do).
    fn instant(&self) -> chrono::DateTime<chrono::Utc> {
        match self.as_utc() {
            Some(u) => u.and_utc(),
            None => chrono::Local
                .from_local_datetime(&self.wall)
                .earliest()
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_else(|| self.wall.and_utc()),
        }
    }

    /// `strftime` with Python's directives: `%f` is microseconds, `%z` and
    /// `%Z` are empty for a naive value, the rest are C's (as chrono has them).
    fn strftime(&self, fmt: &str) -> String {
        let mut out = String::new();
        let mut chars = fmt.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let mut spec = String::from("%");
            if let Some(&f) = chars.peek() {
                if f == '-' || f == '_' || f == '0' {
                    spec.push(f);
                    chars.next();
                }
            }
            let Some(d) = chars.next() else {
                out.push_str(&spec);
                break;
            };
            spec.push(d);
            match d {
                'f' => out.push_str(&format!("{:06}", self.wall.nanosecond() / 1000 % 1_000_000)),
                'z' => {
                    if let Some(t) = &self.tz {
                        out.push_str(&fmt_offset(t.offset, ""));
                    }
                }
                'Z' => {
                    if let Some(t) = &self.tz {
                        out.push_str(&t.abbrev);
                    }
                }
                '%' => out.push('%'),
                _ => {
                    let items: Vec<chrono::format::Item> =
                        chrono::format::StrftimeItems::new(&spec).collect();
                    if items
                        .iter()
                        .any(|i| matches!(i, chrono::format::Item::Error))
                    {
                        out.push_str(&spec);
                    } else {
                        use std::fmt::Write;
                        let _ = write!(out, "{}", self.wall.format_with_items(items.into_iter()));
                    }
                }
            }
        }
        out
    }

    fn isoformat(&self, sep: &str) -> String {
        if self.is_date {
            return self.wall.format("%Y-%m-%d").to_string();
        }
        let mut s = self
            .wall
            .format(&format!("%Y-%m-%d{sep}%H:%M:%S"))
            .to_string();
        let micros = self.wall.nanosecond() / 1000 % 1_000_000;
        if micros != 0 {
            s.push_str(&format!(".{micros:06}"));
        }
        if let Some(t) = &self.tz {
            s.push_str(&fmt_offset(t.offset, ":"));
        }
        s
    }

    /// `replace(year=..., ..., tzinfo=...)`.
    fn replace(&self, a: &Args<'_>) -> Result<DateTime, JError> {
        let w = &self.wall;
        let int = |i: usize, k: &str, d: i64| -> Result<i64, JError> {
            match a.get(i, k) {
                None => Ok(d),
                Some(v) => v
                    .as_i64()
                    .ok_or_else(|| err(format!("{k} must be an integer, not {v}"))),
            }
        };
        let date = NaiveDate::from_ymd_opt(
            int(0, "year", w.year() as i64)? as i32,
            int(1, "month", w.month() as i64)? as u32,
            int(2, "day", w.day() as i64)? as u32,
        )
        .ok_or_else(|| err("day is out of range for month"))?;
        if self.is_date {
            return Ok(DateTime::date(date));
        }
        let wall = date
            .and_hms_micro_opt(
                int(3, "hour", w.hour() as i64)? as u32,
                int(4, "minute", w.minute() as i64)? as u32,
                int(5, "second", w.second() as i64)? as u32,
                int(6, "microsecond", (w.nanosecond() / 1000) as i64)? as u32,
            )
            .ok_or_else(|| err("time out of range"))?;
        let tz = match a.get(7, "tzinfo") {
            None => self.tz.clone(),
            Some(v) => tzinfo_arg(&v)?,
        };
        Ok(DateTime {
            wall,
            is_date: false,
            tz,
        })
    }
}

/// A `tzinfo=` argument: None, or a tzinfo object.
fn tzinfo_arg(v: &Value) -> Result<Option<TzInfo>, JError> {
    if v.is_none() || v.is_undefined() {
        return Ok(None);
    }
    v.downcast_object_ref::<TzObj>()
        .map(|t| Some(t.0.clone()))
        .ok_or_else(|| {
            err(format!(
                "tzinfo argument must be None or of a tzinfo subclass, not {v}"
            ))
        })
}

fn as_datetime(v: &Value) -> Option<DateTime> {
    v.downcast_object_ref::<DateTime>().cloned()
}

impl Object for DateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let d = &self.wall;
        let n = |x: u32| Some(Value::from(x as i64));
        match key.as_str()? {
            "year" => Some(Value::from(d.year() as i64)),
            "month" => n(d.month()),
            "day" => n(d.day()),
            _ if self.is_date => None,
            "hour" => n(d.hour()),
            "minute" => n(d.minute()),
            "second" => n(d.second()),
            "microsecond" => n(d.nanosecond() / 1000 % 1_000_000),
            "fold" => Some(Value::from(0)),
            "tzinfo" => Some(match &self.tz {
                Some(t) => Value::from_object(TzObj(t.clone())),
                None => Value::from(()),
            }),
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let a = Args::new(args);
        match m {
            "strftime" => Ok(Value::from(self.strftime(&a.string(0, "format")))),
            "isoformat" => Ok(Value::from(
                self.isoformat(&a.opt_string(0, "sep").unwrap_or_else(|| "T".into())),
            )),
            "date" if !self.is_date => Ok(DateTime::date(self.wall.date()).into_value()),
            "replace" => Ok(self.replace(&a)?.into_value()),
            "weekday" => Ok(Value::from(self.wall.weekday().num_days_from_monday())),
            "isoweekday" => Ok(Value::from(self.wall.weekday().number_from_monday())),
            "isocalendar" => {
                let w = self.wall.iso_week();
                Ok(Value::from(vec![
                    Value::from(w.year()),
                    Value::from(w.week()),
                    Value::from(self.wall.weekday().number_from_monday()),
                ]))
            }
            "toordinal" => Ok(Value::from(self.wall.num_days_from_ce())),
            "timestamp" if !self.is_date => {
                let i = self.instant();
                Ok(Value::from(
                    i.timestamp() as f64 + f64::from(i.timestamp_subsec_micros()) / 1e6,
                ))
            }
            "astimezone" if !self.is_date => {
                let utc = self.instant().naive_utc();
                match a.get(0, "tz") {
                    Some(v) if !v.is_none() => {
                        let tz = tzinfo_arg(&v)?.unwrap_or_else(TzInfo::utc);
                        Ok(DateTime::at(utc, &tz).into_value())
                    }
                    _ => {
                        let local = chrono::Local.from_utc_datetime(&utc);
                        let off = local.offset().local_minus_utc();
                        Ok(DateTime {
                            wall: local.naive_local(),
                            is_date: false,
                            tz: Some(TzInfo::fixed(off)),
                        }
                        .into_value())
                    }
                }
            }
            "utcoffset" | "tzname" | "dst" if !self.is_date => Ok(match &self.tz {
                None => Value::from(()),
                Some(t) => match m {
                    "utcoffset" => TimeDelta::secs(t.offset as i64),
                    "tzname" => Value::from(t.abbrev.clone()),
                    _ => TimeDelta::secs(match &t.zone {
                        Zone::Db(z) => z
                            .offset_from_utc_datetime(&self.as_utc().unwrap_or(self.wall))
                            .dst_offset()
                            .num_seconds(),
                        _ => 0,
                    }),
                },
            }),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        let o = other.downcast::<DateTime>()?;
        match (self.as_utc(), o.as_utc()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            (None, None) => Some(self.wall.cmp(&o.wall)),
            _ => None,
        }
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.isoformat(" "))
    }
}

/// A `datetime.timedelta`, in microseconds; shown as Python shows one.
#[derive(Debug, Clone, Copy)]
pub struct TimeDelta(i64);

impl TimeDelta {
    fn secs(s: i64) -> Value {
        Value::from_object(TimeDelta(s * 1_000_000))
    }
}

impl Object for TimeDelta {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let secs = self.0.div_euclid(1_000_000);
        match key.as_str()? {
            "days" => Some(Value::from(secs.div_euclid(86400))),
            "seconds" => Some(Value::from(secs.rem_euclid(86400))),
            "microseconds" => Some(Value::from(self.0.rem_euclid(1_000_000))),
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        _a: &[Value],
    ) -> Result<Value, JError> {
        match m {
            "total_seconds" => Ok(Value::from(self.0 as f64 / 1e6)),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        Some(self.0.cmp(&other.downcast::<TimeDelta>()?.0))
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        let days = secs.div_euclid(86400);
        let rest = secs.rem_euclid(86400);
        if days != 0 {
            let s = if days.abs() == 1 { "" } else { "s" };
            write!(f, "{days} day{s}, ")?;
        }
        write!(
            f,
            "{}:{:02}:{:02}",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )?;
        if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        Ok(())
    }
}

/// `a + b` for dates, datetimes and timedeltas, as Python adds them.
pub fn add(a: &Value, b: &Value) -> Result<Value, JError> {
    let td = |v: &Value| v.downcast_object_ref::<TimeDelta>().map(|t| t.0);
    match (as_datetime(a), td(a), as_datetime(b), td(b)) {
        (Some(d), _, _, Some(t)) | (_, Some(t), Some(d), _) => shift(&d, t),
        (_, Some(x), _, Some(y)) => Ok(Value::from_object(TimeDelta(x + y))),
        _ => Err(err(format!("unsupported operand types for +: {a} and {b}"))),
    }
}

/// `a - b` for dates, datetimes and timedeltas, as Python subtracts them.
pub fn sub(a: &Value, b: &Value) -> Result<Value, JError> {
    let td = |v: &Value| v.downcast_object_ref::<TimeDelta>().map(|t| t.0);
    match (as_datetime(a), td(a), as_datetime(b), td(b)) {
        (Some(d), _, _, Some(t)) => shift(&d, -t),
        (_, Some(x), _, Some(y)) => Ok(Value::from_object(TimeDelta(x - y))),
        (Some(x), _, Some(y), _) => {
            if x.is_date != y.is_date || x.tz.is_some() != y.tz.is_some() {
                return Err(err(
                    "can't subtract offset-naive and offset-aware datetimes (or a date and a datetime)",
                ));
            }
            let (l, r) = match (x.as_utc(), y.as_utc()) {
                (Some(l), Some(r)) => (l, r),
                _ => (x.wall, y.wall),
            };
            let micros = (l - r)
                .num_microseconds()
                .ok_or_else(|| err("timedelta out of range"))?;
            Ok(Value::from_object(TimeDelta(micros)))
        }
        _ => Err(err(format!("unsupported operand types for -: {a} and {b}"))),
    }
}

/// A date or datetime moved by `micros`; a date moves by whole days only.
fn shift(d: &DateTime, micros: i64) -> Result<Value, JError> {
    let delta = if d.is_date {
        Duration::days(micros.div_euclid(86_400_000_000))
    } else {
        Duration::microseconds(micros)
    };
    let wall = d
        .wall
        .checked_add_signed(delta)
        .ok_or_else(|| err("date value out of range"))?;
    Ok(DateTime { wall, ..d.clone() }.into_value())
}

/// Parse an ISO 8601 date or datetime as Python 3.11's `fromisoformat`:
/// `YYYY-MM-DD`, then any one separator and `HH[:MM[:SS[.ffffff]]]`, then
/// `Z` or `±HH:MM[:SS]`.
fn parse_iso(s: &str, date_only: bool) -> Option<DateTime> {
    let s = s.trim();
    let (date_part, rest) = if s.len() >= 10 && s.is_char_boundary(10) {
        s.split_at(10)
    } else if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        (s, "")
    } else {
        return None;
    };
    let date = NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(date_part, "%Y%m%d"))
        .ok()?;
    if rest.is_empty() {
        return Some(if date_only {
            DateTime::date(date)
        } else {
            DateTime::naive(date.and_hms_opt(0, 0, 0)?)
        });
    }
    if date_only {
        return None;
    }
    let time = &rest[rest.chars().next()?.len_utf8()..];
    let split = time.find(['+', '-', 'Z', 'z']).unwrap_or(time.len());
    let (clock, off) = time.split_at(split);
    let (hms, frac) = clock.split_once(['.', ',']).unwrap_or((clock, ""));
    let nums: Vec<u32> = hms
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let micros: u32 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        digits.parse().ok()?
    };
    let wall = date.and_hms_micro_opt(
        *nums.first()?,
        *nums.get(1).unwrap_or(&0),
        *nums.get(2).unwrap_or(&0),
        micros,
    )?;
    let tz = match off {
        "" => None,
        "Z" | "z" => Some(TzInfo::utc()),
        _ => {
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let body = off[1..].replace(':', "");
            let n =
                |r: std::ops::Range<usize>| body.get(r).map_or(Some(0), |p| p.parse::<i32>().ok());
            if body.len() < 2 {
                return None;
            }
            Some(TzInfo::fixed(
                sign * (n(0..2)? * 3600 + n(2..4)? * 60 + n(4..6)?),
            ))
        }
    };
    Some(DateTime {
        wall,
        is_date: false,
        tz,
    })
}

/// `datetime.strptime(text, format)` with Python's directives (`%f` is
/// microseconds; `%z` makes an aware value).
fn strptime(s: &str, f: &str) -> Result<DateTime, JError> {
    let chrono_fmt = f.replace("%f", "%6f");
    let bad = || err(format!("time data {s:?} does not match format {f:?}"));
    if f.contains("%z") {
        let d = chrono::DateTime::parse_from_str(s, &chrono_fmt).map_err(|_| bad())?;
        return Ok(DateTime {
            wall: d.naive_local(),
            is_date: false,
            tz: Some(TzInfo::fixed(d.offset().local_minus_utc())),
        });
    }
    NaiveDateTime::parse_from_str(s, &chrono_fmt)
        .or_else(|_| {
            NaiveDate::parse_from_str(s, &chrono_fmt)
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map(DateTime::naive)
        .map_err(|_| bad())
}

fn local_now() -> NaiveDateTime {
    chrono::Local::now().naive_local()
}

/// Python's `datetime` module and its classes.
#[derive(Debug)]
struct DtModule(&'static str);

impl Object for DtModule {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let class = |c| Some(Value::from_object(DtModule(c)));
        match (self.0, key.as_str()?) {
            ("module", "datetime") => class("datetime"),
            ("module", "date") => class("date"),
            ("module", "timedelta") => class("timedelta"),
            ("module", "timezone") => class("timezone"),
            ("module", "MINYEAR") => Some(Value::from(1)),
            ("module", "MAXYEAR") => Some(Value::from(9999)),
            ("timezone", "utc") => Some(Value::from_object(TzObj(TzInfo::utc()))),
            _ => None,
        }
    }
    fn call(self: &Arc<Self>, _s: &State<'_, '_>, args: &[Value]) -> Result<Value, JError> {
        let a = Args::new(args);
        let int = |i: usize, k: &str, d: Option<i64>| -> Result<i64, JError> {
            match a.get(i, k) {
                None => d.ok_or_else(|| err(format!("missing required argument {k:?}"))),
                Some(v) => v
                    .as_i64()
                    .ok_or_else(|| err(format!("{k} must be an integer, not {v}"))),
            }
        };
        match self.0 {
            "datetime" | "date" => {
                let date = NaiveDate::from_ymd_opt(
                    int(0, "year", None)? as i32,
                    int(1, "month", None)? as u32,
                    int(2, "day", None)? as u32,
                )
                .ok_or_else(|| err("day is out of range for month"))?;
                if self.0 == "date" {
                    return Ok(DateTime::date(date).into_value());
                }
                let wall = date
                    .and_hms_micro_opt(
                        int(3, "hour", Some(0))? as u32,
                        int(4, "minute", Some(0))? as u32,
                        int(5, "second", Some(0))? as u32,
                        int(6, "microsecond", Some(0))? as u32,
                    )
                    .ok_or_else(|| err("time out of range"))?;
                let tz = match a.get(7, "tzinfo") {
                    Some(v) => tzinfo_arg(&v)?,
                    None => None,
                };
                Ok(DateTime {
                    wall,
                    is_date: false,
                    tz,
                }
                .into_value())
            }
            "timedelta" => {
                let num = |i: usize, k: &str| -> Result<f64, JError> {
                    match a.get(i, k) {
                        None => Ok(0.0),
                        Some(v) => f64::try_from(v.clone()).map_err(|_| {
                            err(format!("unsupported type for timedelta {k} component: {v}"))
                        }),
                    }
                };
                let micros = num(0, "days")? * 86_400e6
                    + num(1, "seconds")? * 1e6
                    + num(2, "microseconds")?
                    + num(3, "milliseconds")? * 1e3
                    + num(4, "minutes")? * 60e6
                    + num(5, "hours")? * 3_600e6
                    + num(6, "weeks")? * 604_800e6;
                Ok(Value::from_object(TimeDelta(micros.round() as i64)))
            }
            "timezone" => {
                let off = a
                    .get(0, "offset")
                    .and_then(|v| v.downcast_object_ref::<TimeDelta>().map(|t| t.0))
                    .ok_or_else(|| err("timezone() argument 1 must be datetime.timedelta"))?;
                Ok(Value::from_object(TzObj(TzInfo::fixed(
                    (off / 1_000_000) as i32,
                ))))
            }
            _ => Err(err(format!("'{}' object is not callable", self.0))),
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let a = Args::new(args);
        let s0 = a.string(0, "date_string");
        match (self.0, m) {
            ("datetime", "now") => match a.get(0, "tz").map(|v| tzinfo_arg(&v)).transpose()? {
                Some(Some(tz)) => {
                    Ok(DateTime::at(chrono::Utc::now().naive_utc(), &tz).into_value())
                }
                _ => Ok(DateTime::naive(local_now()).into_value()),
            },
            ("datetime", "today") => Ok(DateTime::naive(local_now()).into_value()),
            ("datetime", "utcnow") => {
                Ok(DateTime::naive(chrono::Utc::now().naive_utc()).into_value())
            }
            ("date", "today") => Ok(DateTime::date(local_now().date()).into_value()),
            ("datetime" | "date", "fromtimestamp" | "utcfromtimestamp") => {
                let ts = a
                    .get(0, "timestamp")
                    .and_then(|v| f64::try_from(v).ok())
                    .ok_or_else(|| err("fromtimestamp() takes a number"))?;
                let utc = chrono::DateTime::from_timestamp_micros((ts * 1e6).round() as i64)
                    .ok_or_else(|| err("timestamp out of range"))?
                    .naive_utc();
                let tz = a
                    .get(1, "tz")
                    .map(|v| tzinfo_arg(&v))
                    .transpose()?
                    .flatten();
                let d = match (tz, m) {
                    (Some(tz), _) => DateTime::at(utc, &tz),
                    (None, "utcfromtimestamp") => DateTime::naive(utc),
                    (None, _) => {
                        DateTime::naive(chrono::Local.from_utc_datetime(&utc).naive_local())
                    }
                };
                Ok(if self.0 == "date" {
                    DateTime::date(d.wall.date())
                } else {
                    d
                }
                .into_value())
            }
            ("datetime", "strptime") => Ok(strptime(&s0, &a.string(1, "format"))?.into_value()),
            ("datetime" | "date", "fromisoformat") => parse_iso(&s0, self.0 == "date")
                .map(DateTime::into_value)
                .ok_or_else(|| err(format!("Invalid isoformat string: {s0:?}"))),
            ("datetime", "combine") => {
                let d = a
                    .get(0, "date")
                    .and_then(|v| as_datetime(&v))
                    .ok_or_else(|| err("combine() takes a date"))?;
                Ok(DateTime::naive(d.wall).into_value())
            }
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// dbt's `modules.pytz`: `timezone(name)`, `utc`/`UTC`, the zone lists.
#[derive(Debug)]
struct Pytz;

impl Object for Pytz {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "utc" | "UTC" => Some(Value::from_object(TzObj(TzInfo::utc()))),
            "all_timezones" | "common_timezones" => Some(Value::from(
                chrono_tz::TZ_VARIANTS
                    .iter()
                    .map(|t| Value::from(t.name()))
                    .collect::<Vec<_>>(),
            )),
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        match m {
            "timezone" => {
                let name = Args::new(args).string(0, "zone");
                if name.eq_ignore_ascii_case("utc") {
                    return Ok(Value::from_object(TzObj(TzInfo::utc())));
                }
                let tz: chrono_tz::Tz = name
                    .parse()
                    .map_err(|_| err(format!("UnknownTimeZoneError: '{name}'")))?;
                Ok(Value::from_object(TzObj(TzInfo::zone_default(tz))))
            }
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// The `datetime` module object.
pub fn datetime_module() -> Value {
    Value::from_object(DtModule("module"))
}

/// The `pytz` module object.
pub fn pytz_module() -> Value {
    Value::from_object(Pytz)
}

/// The filters [`rewrite_timedelta_ops`] writes.
pub fn install(env: &mut Environment<'static>) {
    env.add_filter(PLUS, |a: Value, b: Value| add(&a, &b));
    env.add_filter(MINUS, |a: Value, b: Value| sub(&a, &b));
}

const PLUS: &str = "__tarmac_dt_plus";
const MINUS: &str = "__tarmac_dt_minus";

/// Rewrite `x - modules.datetime.timedelta(...)` (and `+`) inside Jinja
/// tags to `x | __tarmac_dt_minus(modules.datetime.timedelta(...))`: Jinja
/// cannot overload `-`, and a filter binds to the operand just before it,
/// as `-` takes it in these expressions. A `timedelta` held in a variable
/// is not seen (`d - delta` stays an error).
pub fn rewrite_timedelta_ops(src: &str) -> std::borrow::Cow<'_, str> {
    const CALL: &str = "modules.datetime.timedelta";
    if !src.contains(CALL) {
        return std::borrow::Cow::Borrowed(src);
    }
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 32);
    let mut pos = 0;
    let mut search = 0;
    while let Some(found) = src[search..].find(CALL) {
        let start = search + found;
        search = start + CALL.len();
        // the operator before the call, and what is before it
        let mut i = start;
        while i > 0 && b[i - 1].is_ascii_whitespace() {
            i -= 1;
        }
        if i == 0 || !matches!(b[i - 1], b'+' | b'-') {
            continue;
        }
        let op = i - 1;
        let mut j = op;
        while j > 0 && b[j - 1].is_ascii_whitespace() {
            j -= 1;
        }
        // a binary operator has an operand before it (not `(`, `,`, `{{`...)
        if j == 0
            || !(b[j - 1].is_ascii_alphanumeric()
                || matches!(b[j - 1], b')' | b']' | b'_' | b'\'' | b'"'))
        {
            continue;
        }
        // the call's closing parenthesis, strings skipped
        let mut k = search;
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        if k >= b.len() || b[k] != b'(' {
            continue;
        }
        let mut depth = 0;
        let mut quote: Option<u8> = None;
        let mut end = None;
        while k < b.len() {
            let c = b[k];
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    b'\'' | b'"' => quote = Some(c),
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(k + 1);
                            break;
                        }
                    }
                    _ => {}
                },
            }
            k += 1;
        }
        let Some(end) = end else { continue };
        let filter = if b[op] == b'+' { PLUS } else { MINUS };
        out.push_str(&src[pos..op]);
        out.push_str(&format!("| {filter}({})", &src[start..end]));
        pos = end;
        search = end;
    }
    if pos == 0 {
        return std::borrow::Cow::Borrowed(src);
    }
    out.push_str(&src[pos..]);
    std::borrow::Cow::Owned(out)
}

/// As Python prints an aware UTC datetime (microseconds only when there
/// are some): what dbt's event-time filters compare with.
pub fn python_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    if t.nanosecond() / 1000 == 0 {
        t.format("%Y-%m-%d %H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
    }
}

/// A timestamp as the flags, `begin` and run_results give one: a date, a
/// date and time (`T` or space, optional seconds and fraction), with or
/// without a UTC offset; naive times are UTC, as in dbt.
pub fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = text.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&chrono::Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%:z"] {
        if let Ok(d) = chrono::DateTime::parse_from_str(t, f) {
            return Some(d.with_timezone(&chrono::Utc));
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, f) {
            return Some(chrono::Utc.from_utc_datetime(&d));
        }
    }
    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| chrono::Utc.from_utc_datetime(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment<'static> {
        let mut env = Environment::new();
        env.add_global("datetime", datetime_module());
        env.add_global("pytz", pytz_module());
        let mut modules = std::collections::BTreeMap::new();
        modules.insert("datetime", datetime_module());
        modules.insert("pytz", pytz_module());
        env.add_global("modules", Value::from_serialize(&modules));
        env.add_global(
            "run_started_at",
            DateTime::utc(
                NaiveDate::from_ymd_opt(2026, 8, 15)
                    .unwrap()
                    .and_hms_micro_opt(12, 0, 0, 250)
                    .unwrap(),
            )
            .into_value(),
        );
        install(&mut env);
        env
    }

    fn r(src: &str) -> String {
        env()
            .render_str(&rewrite_timedelta_ops(src), ())
            .unwrap_or_else(|e| panic!("{src}: {e:#}"))
    }

    // expected values printed by Python 3.11 with pytz
    #[test]
    fn pytz_zones_as_python_has_them() {
        let la = "pytz.timezone('America/Los_Angeles')";
        assert_eq!(r(&format!("{{{{ {la} }}}}")), "America/Los_Angeles");
        // a zone given as tzinfo is its local mean time, rounded to the minute
        assert_eq!(
            r(&format!(
                "{{{{ datetime.datetime(1997, 9, 29, 6, 14, 0, tzinfo={la}) }}}}"
            )),
            "1997-09-29 06:14:00-07:53"
        );
        assert_eq!(
            r("{{ datetime.datetime(2020, 1, 1, tzinfo=pytz.timezone('Asia/Kolkata')) }}"),
            "2020-01-01 00:00:00+05:53"
        );
        // localize: summer and winter time, the repeated and skipped hours
        for (wall, want) in [
            ("2026, 9, 1", "2026-09-01 00:00:00-07:00"),
            ("2026, 3, 8, 2, 30", "2026-03-08 02:30:00-08:00"),
            ("2026, 11, 1, 1, 30", "2026-11-01 01:30:00-08:00"),
        ] {
            assert_eq!(
                r(&format!(
                    "{{{{ {la}.localize(datetime.datetime({wall})) }}}}"
                )),
                want
            );
        }
        assert_eq!(
            r("{{ pytz.utc.localize(datetime.datetime(2020, 1, 1)).astimezone(pytz.timezone('Asia/Kolkata')) }}"),
            "2020-01-01 05:30:00+05:30"
        );
        assert_eq!(
            r(&format!(
                "{{{{ {la}.localize(datetime.datetime(2026, 9, 1)).timestamp() }}}}"
            )),
            "1788246000.0"
        );
        assert_eq!(
            r(&format!(
                "{{{{ {la}.localize(datetime.datetime(2026, 9, 1)).isoformat() }}}}"
            )),
            "2026-09-01T00:00:00-07:00"
        );
        assert_eq!(
            r(&format!(
                "{{{{ {la}.localize(datetime.datetime(2026, 1, 1)).strftime('%z %Z') }}}}"
            )),
            "-0800 PST"
        );
        let e = env()
            .render_str("{{ pytz.timezone('Mars/Olympus') }}", ())
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("UnknownTimeZoneError: 'Mars/Olympus'"),
            "{e:#}"
        );
    }

    #[test]
    fn datetimes_print_parse_and_compare_as_python() {
        assert_eq!(
            r("{{ run_started_at }}|{{ run_started_at.tzinfo }}|{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f %z') }}"),
            "2026-08-15 12:00:00.000250+00:00|UTC|2026-08-15 12:00:00.000250 +0000"
        );
        assert_eq!(
            r("{{ datetime.datetime(2020, 1, 1).strftime('%z|%Z|%f') }}"),
            "||000000"
        );
        assert_eq!(
            r("{{ datetime.datetime(2020, 1, 1, 1, 2, 3, 4).isoformat() }}"),
            "2020-01-01T01:02:03.000004"
        );
        let iso = "datetime.datetime.fromisoformat";
        assert_eq!(
            r(&format!("{{{{ {iso}('2026-09-01T00:00:00+00:00') }}}}")),
            "2026-09-01 00:00:00+00:00"
        );
        assert_eq!(
            r(&format!("{{{{ {iso}('2026-09-01 10:00:00.5-05:30') }}}}")),
            "2026-09-01 10:00:00.500000-05:30"
        );
        assert_eq!(
            r(&format!("{{{{ {iso}('2026-09-01').tzinfo is none }}}}")),
            "True"
        );
        assert_eq!(
            r("{{ datetime.date.fromisoformat('2026-09-01') }}"),
            "2026-09-01"
        );
        assert_eq!(
            r("{{ datetime.datetime.strptime('2024-02-01', '%Y-%m-%d').day }}"),
            "1"
        );
        // a date has no time fields; a datetime has them
        assert_eq!(
            r("{{ datetime.date(2026, 9, 1).hour is defined }}|{{ datetime.datetime(2026, 9, 1).hour is defined }}"),
            "False|True"
        );
        assert_eq!(
            r("{{ datetime.datetime(2026, 9, 1, 5).replace(hour=0, minute=0) }}"),
            "2026-09-01 00:00:00"
        );
        assert_eq!(
            r("{{ datetime.datetime(2026, 9, 1, 5, tzinfo=pytz.utc) > datetime.datetime.fromisoformat('2026-09-01T04:00:00Z') }}"),
            "True"
        );
    }

    #[test]
    fn timedelta_arithmetic_is_rewritten_to_filters() {
        assert_eq!(
            rewrite_timedelta_ops("{{ d - modules.datetime.timedelta(days=(1), x=')') }}"),
            "{{ d | __tarmac_dt_minus(modules.datetime.timedelta(days=(1), x=')')) }}"
        );
        // a unary minus and plain text stay as written
        for s in [
            "{{ -modules.datetime.timedelta(1) }}",
            "{{ f(modules.datetime.timedelta(1)) }}",
        ] {
            assert_eq!(rewrite_timedelta_ops(s), s);
        }
        assert_eq!(
            r("{{ modules.datetime.date(2026, 3, 1) - modules.datetime.timedelta(1) }}"),
            "2026-02-28"
        );
        assert_eq!(
            r("{% set e = modules.datetime.datetime(2026, 3, 1, 6) %}{{ (e - modules.datetime.timedelta(days=10)) }}|{{ e + modules.datetime.timedelta(hours=1.5) }}"),
            "2026-02-19 06:00:00|2026-03-01 07:30:00"
        );
        assert_eq!(
            r("{{ modules.datetime.timedelta(hours=-1) }}|{{ modules.datetime.timedelta(days=1.5, microseconds=3) }}|{{ modules.datetime.timedelta(days=2) }}"),
            "-1 day, 23:00:00|1 day, 12:00:00.000003|2 days, 0:00:00"
        );
    }
}
