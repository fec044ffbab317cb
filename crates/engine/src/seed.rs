//! Seeds: CSV files loaded as dbt-core 1.10 + dbt-duckdb 1.11 load them.
//!
//! Column types are dbt's: its agate type tester (dbt-core configures it in
//! `agate_helper.build_type_tester`) tries, for every value of a column,
//! number, date (`%Y-%m-%d`), datetime (`%Y-%m-%d %H:%M:%S`), ISO 8601
//! datetime (with a `T`), boolean (`true`/`false`), else text, and the
//! column takes the first that every value passes; `""` and `null` (any
//! case, around whitespace) pass all. A number column is `INTEGER` unless
//! some value has decimal places once trailing zeros are dropped (then
//! `DOUBLE`): there is no `BIGINT`. `column_types` (matched by exact column
//! name) override the inference. Each behaviour here was checked against
//! dbt's own result on a seed of that shape
//! (<https://docs.getdbt.com/reference/resource-configs/column_types>).
//!
//! Values are DuckDB's, as in dbt-duckdb 1.11's default (`fast`) path: the
//! table is created with those types and the file is read into it with
//! `COPY ... (FORMAT CSV, HEADER TRUE, DELIMITER ...)`, so a value DuckDB
//! cannot read as its column's type (`1,000` in an `INTEGER` column,
//! `null` in a number column) fails the seed as it fails dbt's. With
//! `fast: false`, rows are inserted with agate's values instead (`null`
//! and blanks are NULL, `$1,000` is 1000).

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::relation::{quote, Relation};
use dbt_jinja::database::{Database, DatabaseFailure};

/// An inferred column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedType {
    Integer,
    Double,
    Date,
    Timestamp,
    Boolean,
    Text,
}

impl SeedType {
    pub fn sql(&self) -> &'static str {
        match self {
            SeedType::Integer => "INTEGER",
            SeedType::Double => "DOUBLE",
            SeedType::Date => "DATE",
            SeedType::Timestamp => "TIMESTAMP",
            SeedType::Boolean => "BOOLEAN",
            SeedType::Text => "VARCHAR",
        }
    }
}

/// agate's null test as dbt configures it: `""` or `null`, any case, once
/// surrounding whitespace is stripped.
fn is_null(v: &str) -> bool {
    let t = v.trim();
    t.is_empty() || t.eq_ignore_ascii_case("null")
}

/// A number as agate's `Number` reads it: a decimal of at most 28
/// significant digits (Python's default decimal context), or a special
/// value (infinity, NaN).
#[derive(Debug, Clone, PartialEq)]
enum Num {
    Special,
    /// sign, digits without leading zeros (empty for zero), exponent
    Finite(bool, String, i64),
}

const CURRENCY: &[char] = &[
    '؋', '$', 'ƒ', '៛', '¥', '₡', '₱', '£', '€', '¢', '﷼', '₪', '₩', '₭', '₮', '₦', '฿', '₤', '₫',
];

/// agate's `Number.cast` on text: strip whitespace, then `%` at either end,
/// a leading `-` (the sign), currency symbols at either end, every `,`
/// (en_US grouping), then Python's `Decimal` syntax (underscores dropped).
fn parse_number(v: &str) -> Option<Num> {
    let mut d = v.trim().trim_matches('%');
    let neg = d.starts_with('-');
    if neg {
        d = &d[1..];
    }
    for c in CURRENCY {
        d = d.trim_matches(*c);
    }
    let d: String = d.replace([',', '_'], "");
    let d = d.trim();
    let (inner_neg, body) = match d.as_bytes().first() {
        Some(b'-') => (true, &d[1..]),
        Some(b'+') => (false, &d[1..]),
        _ => (false, d),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(Num::Special);
    }
    if let Some(payload) = lower.strip_prefix("nan") {
        return payload
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then_some(Num::Special);
    }
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => {
            let e = &body[i + 1..];
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (&body[..i], e.parse::<i64>().ok()?)
        }
        None => (body, 0),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mantissa, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut digits: String = format!("{int}{frac}").trim_start_matches('0').to_string();
    let mut exp = exp - frac.len() as i64;
    // Decimal arithmetic (agate multiplies by the sign) rounds to 28
    // significant digits, half to even
    if digits.len() > 28 {
        let cut = digits.len() - 28;
        let (keep, rest) = digits.split_at(28);
        let mut keep: Vec<u8> = keep.bytes().collect();
        let first = rest.as_bytes()[0];
        let up = first > b'5'
            || (first == b'5'
                && (rest[1..].bytes().any(|b| b != b'0') || (keep[27] - b'0') % 2 == 1));
        if up {
            let mut i = keep.len();
            loop {
                if i == 0 {
                    keep.insert(0, b'1');
                    break;
                }
                i -= 1;
                if keep[i] == b'9' {
                    keep[i] = b'0';
                } else {
                    keep[i] += 1;
                    break;
                }
            }
        }
        digits = String::from_utf8(keep).unwrap_or_default();
        exp += cut as i64;
    }
    Some(Num::Finite(neg != inner_neg, digits, exp))
}

impl Num {
    /// (whole places, decimal places) of the normalized value, as agate's
    /// `max_precision` counts them; None for specials, which it skips.
    fn places(&self) -> Option<(i64, i64)> {
        let Num::Finite(_, digits, exp) = self else {
            return None;
        };
        let trimmed = digits.trim_end_matches('0');
        if trimmed.is_empty() {
            return Some((1, 0));
        }
        let exp = exp + (digits.len() - trimmed.len()) as i64;
        let decimals = -exp;
        Some((trimmed.len() as i64 - decimals, decimals))
    }

    /// The value as plain decimal text (what `fast: false` inserts).
    fn text(&self) -> Option<String> {
        let Num::Finite(neg, digits, exp) = self else {
            return None;
        };
        let digits = if digits.is_empty() { "0" } else { digits };
        let body = if *exp >= 0 {
            format!("{digits}{}", "0".repeat(*exp as usize))
        } else {
            let places = (-exp) as usize;
            let padded = format!("{:0>width$}", digits, width = places + 1);
            let (a, b) = padded.split_at(padded.len() - places);
            format!("{a}.{b}")
        };
        Some(if *neg { format!("-{body}") } else { body })
    }
}

/// Python's `strptime` for `%Y-%m-%d` (and, with `time`, `%Y-%m-%d
/// %H:%M:%S`, where the space matches any run of whitespace): four-digit
/// years, one- or two-digit fields (a day may be ` 5`), nothing left over.
fn parse_strptime(v: &str, time: bool) -> Option<chrono::NaiveDateTime> {
    use std::sync::OnceLock;
    static DATE: OnceLock<regex::Regex> = OnceLock::new();
    static DATETIME: OnceLock<regex::Regex> = OnceLock::new();
    const D: &str = r"(\d{4})-(1[0-2]|0[1-9]|[1-9])-(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])";
    let re = if time {
        DATETIME.get_or_init(|| {
            regex::Regex::new(&format!(
                r"^{D}\s+(2[0-3]|[0-1]\d|\d):([0-5]\d|\d):(6[0-1]|[0-5]\d|\d)$"
            ))
            .expect("datetime pattern")
        })
    } else {
        DATE.get_or_init(|| regex::Regex::new(&format!("^{D}$")).expect("date pattern"))
    };
    let c = re.captures(v.trim())?;
    let n = |i: usize| {
        c.get(i)
            .map_or(0, |m| m.as_str().trim().parse::<u32>().unwrap_or(99))
    };
    let date = chrono::NaiveDate::from_ymd_opt(n(1) as i32, n(2), n(3))?;
    if n(1) == 0 {
        return None;
    }
    if time {
        date.and_hms_opt(n(4), n(5), n(6))
    } else {
        date.and_hms_opt(0, 0, 0)
    }
}

/// ISO 8601 as dbt's `ISODateTime` (the `isodate` library) reads it: one
/// `T` between a date (`2024-01-05`, `20240105`, `2024-01`, `2024`,
/// ordinal `2024-005`, week `2024-W01-1`) and a time (`10:20:30.5`,
/// `102030`, `10:20`, `10`, a `.` or `,` fraction on the last field) with an
/// optional zone (`Z`, `+02:00`, `+0200`, `+02`). The naive local part is
/// returned (the zone is not applied, as DuckDB's cast to TIMESTAMP does).
fn parse_iso(v: &str) -> Option<chrono::NaiveDateTime> {
    use chrono::{Datelike, NaiveDate, NaiveTime};
    let v = v.trim();
    let (d, t) = v.split_once('T')?;
    if t.contains('T') {
        return None;
    }
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let num = |s: &str| s.parse::<u32>().ok();
    let date = if let Some((y, w)) = d
        .split_once("-W")
        .or_else(|| (d.len() >= 7 && d.as_bytes()[4] == b'W').then(|| (&d[..4], &d[5..])))
    {
        // week date: YYYY-Www[-D] or YYYYWww[D]
        let w = w.replace('-', "");
        if y.len() != 4 || !all_digits(y) || !(w.len() == 2 || w.len() == 3) || !all_digits(&w) {
            return None;
        }
        let (week, day) = (num(&w[..2])?, if w.len() == 3 { num(&w[2..])? } else { 1 });
        let wd = chrono::Weekday::try_from((day as u8).checked_sub(1)?).ok()?;
        NaiveDate::from_isoywd_opt(y.parse().ok()?, week, wd)?
    } else {
        let parts: Vec<&str> = d.split('-').collect();
        if !parts.iter().all(|p| all_digits(p)) || parts[0].len() < 4 {
            return None;
        }
        let y: i32 = parts[0][..4].parse().ok()?;
        match parts.as_slice() {
            [yd] if yd.len() == 4 => NaiveDate::from_ymd_opt(y, 1, 1)?,
            [yd] if yd.len() == 8 => NaiveDate::from_ymd_opt(y, num(&yd[4..6])?, num(&yd[6..8])?)?,
            [yd] if yd.len() == 7 => NaiveDate::from_yo_opt(y, num(&yd[4..7])?)?,
            [yy, m] if yy.len() == 4 && m.len() == 2 => NaiveDate::from_ymd_opt(y, num(m)?, 1)?,
            [yy, o] if yy.len() == 4 && o.len() == 3 => NaiveDate::from_yo_opt(y, num(o)?)?,
            [yy, m, dd] if yy.len() == 4 && m.len() == 2 && dd.len() == 2 => {
                NaiveDate::from_ymd_opt(y, num(m)?, num(dd)?)?
            }
            _ => return None,
        }
    };
    if date.year() < 1 {
        return None;
    }
    // the zone: Z, or +/- hh[:mm] / hhmm
    let (clock, zone) = match t.find(['Z', '+', '-']) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    if !zone.is_empty() && zone != "Z" {
        let z = &zone[1..];
        let ok = match z.len() {
            2 => all_digits(z),
            4 => all_digits(z),
            5 => z.as_bytes()[2] == b':' && all_digits(&z[..2]) && all_digits(&z[3..]),
            _ => false,
        };
        if !ok {
            return None;
        }
    }
    let (whole, frac) = match clock.find(['.', ',']) {
        Some(i) => (&clock[..i], Some(&clock[i + 1..])),
        None => (clock, None),
    };
    if let Some(f) = frac {
        if !all_digits(f) {
            return None;
        }
    }
    let fields: Vec<&str> = if whole.contains(':') {
        whole.split(':').collect()
    } else {
        if !all_digits(whole) || whole.len() % 2 != 0 {
            return None;
        }
        (0..whole.len() / 2)
            .map(|i| &whole[2 * i..2 * i + 2])
            .collect()
    };
    if fields.is_empty()
        || fields.len() > 3
        || !fields.iter().all(|f| f.len() == 2 && all_digits(f))
    {
        return None;
    }
    let h = num(fields[0])?;
    let m = fields.get(1).map_or(Some(0), |f| num(f))?;
    let s = fields.get(2).map_or(Some(0), |f| num(f))?;
    // a fraction belongs to the last field given
    let frac_val = frac.map_or(0.0, |f| format!("0.{f}").parse::<f64>().unwrap_or(0.0));
    let unit = match fields.len() {
        1 => 3600.0,
        2 => 60.0,
        _ => 1.0,
    };
    let extra_us = (frac_val * unit * 1_000_000.0).floor() as i64;
    let base = NaiveTime::from_hms_opt(h, m, s)?;
    let time = base + chrono::Duration::microseconds(extra_us);
    Some(date.and_time(time))
}

fn parse_bool(v: &str) -> Option<bool> {
    let d = v.replace(',', "");
    let d = d.trim();
    if d.eq_ignore_ascii_case("true") {
        Some(true)
    } else if d.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// agate's type tester on one column (dbt's type order), then dbt's SQL
/// type for it (`convert_number_type` and friends).
pub fn infer<'a>(values: impl Iterator<Item = &'a str> + Clone) -> SeedType {
    let non_null = || values.clone().filter(|v| !is_null(v));
    if let Some(nums) = non_null().map(parse_number).collect::<Option<Vec<Num>>>() {
        // agate's max_precision: decimal places of the normalized values,
        // capped by the 28-digit context
        let (mut whole, mut decimals) = (1i64, 0i64);
        for (w, d) in nums.iter().filter_map(Num::places) {
            whole = whole.max(w);
            decimals = decimals.max(d);
        }
        if whole + decimals > 28 {
            decimals = 28 - whole;
        }
        return if decimals != 0 {
            SeedType::Double
        } else {
            SeedType::Integer
        };
    }
    if non_null().all(|v| parse_strptime(v, false).is_some()) {
        return SeedType::Date;
    }
    if non_null().all(|v| parse_strptime(v, true).is_some() || parse_iso(v).is_some()) {
        // agate's DateTime, else ISODateTime: each must take every value
        if non_null().all(|v| parse_strptime(v, true).is_some())
            || non_null().all(|v| parse_iso(v).is_some())
        {
            return SeedType::Timestamp;
        }
    }
    if non_null().all(|v| parse_bool(v).is_some()) {
        return SeedType::Boolean;
    }
    SeedType::Text
}

/// A value as agate holds it, as text DuckDB casts to the column's type
/// (`fast: false`); None for NULL.
fn agate_value(v: &str, ty: SeedType) -> Option<String> {
    if is_null(v) {
        return None;
    }
    let fmt = |dt: chrono::NaiveDateTime| dt.format("%Y-%m-%d %H:%M:%S%.f").to_string();
    match ty {
        SeedType::Integer | SeedType::Double => parse_number(v).and_then(|n| match n {
            Num::Special => Some(v.trim().trim_start_matches('+').to_string()),
            n => n.text(),
        }),
        SeedType::Date => parse_strptime(v, false).map(|d| d.format("%Y-%m-%d").to_string()),
        SeedType::Timestamp => parse_strptime(v, true).or_else(|| parse_iso(v)).map(fmt),
        SeedType::Boolean => parse_bool(v).map(|b| b.to_string()),
        SeedType::Text => Some(v.to_string()),
    }
}

/// A seed read into memory.
pub struct SeedData {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Column names as agate makes them from the header: kept as written
/// (whitespace included), an empty one named by its position's letter
/// (`a`, `b`, ..., `z`, `aa`, `bb`, ...), a repeated one suffixed `_2`,
/// `_3`, ...
fn agate_names(header: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, h) in header.into_iter().enumerate() {
        let name = if h.is_empty() {
            let letter = (b'a' + (i % 26) as u8) as char;
            letter.to_string().repeat(i / 26 + 1)
        } else {
            h
        };
        let mut candidate = name.clone();
        let mut n = 2;
        while out.contains(&candidate) {
            candidate = format!("{name}_{n}");
            n += 1;
        }
        out.push(candidate);
    }
    out
}

pub fn read_csv(path: &Path, delimiter: u8) -> Result<SeedData> {
    let bad = |m: String| Error::Seed {
        path: path.to_path_buf(),
        message: m,
    };
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .map_err(|e| bad(e.to_string()))?;
    let mut header: Vec<String> = r
        .headers()
        .map_err(|e| bad(e.to_string()))?
        .iter()
        .map(String::from)
        .collect();
    if let Some(first) = header.first_mut() {
        if let Some(rest) = first.strip_prefix('\u{feff}') {
            *first = rest.to_string();
        }
    }
    if header.is_empty() || header.iter().all(|c| c.is_empty()) {
        return Err(bad("no header row".into()));
    }
    let columns = agate_names(header);
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| bad(format!("row {}: {e}", i + 2)))?;
        if rec.len() != columns.len() {
            return Err(bad(format!(
                "row {}: {} values for {} columns",
                i + 2,
                rec.len(),
                columns.len()
            )));
        }
        rows.push(rec.iter().map(|s| s.to_string()).collect());
    }
    Ok(SeedData { columns, rows })
}

/// The SQL type per column: `column_types` (by exact column name, as dbt's
/// `create_csv_table` looks it up) first, else the inference.
pub fn column_types(data: &SeedData, overrides: Option<&Value>) -> Vec<(Option<SeedType>, String)> {
    (0..data.columns.len())
        .map(|i| {
            let name = &data.columns[i];
            if let Some(t) = overrides.and_then(|o| o.get(name)).and_then(|v| v.as_str()) {
                return (None, t.to_string());
            }
            let t = infer(data.rows.iter().map(|r| r[i].as_str()));
            (Some(t), t.sql().to_string())
        })
        .collect()
}

/// How a seed is loaded: its configs that matter here.
#[derive(Debug, Clone, Default)]
pub struct SeedOptions<'a> {
    pub column_types: Option<&'a Value>,
    pub delimiter: Option<char>,
    /// `quote_columns` (dbt's default: quoted).
    pub quote_columns: Option<bool>,
    /// dbt-duckdb's `fast` (default true): COPY the file.
    pub fast: Option<bool>,
}

/// Load a seed into `rel`, replacing what was there in one transaction,
/// through the [`Database`] trait: the values go to a staging table with
/// [`Database::append_rows`] (or DuckDB reads the file itself with `COPY`,
/// dbt-duckdb's `fast`), and the swap is one [`Database::transaction`].
pub fn load(db: &dyn Database, path: &Path, rel: &Relation, o: &SeedOptions<'_>) -> Result<usize> {
    let delimiter = o.delimiter.unwrap_or(',');
    let mut buf = [0u8; 4];
    let delim_byte = match delimiter.encode_utf8(&mut buf).as_bytes() {
        [b] => *b,
        _ => {
            return Err(Error::Seed {
                path: path.to_path_buf(),
                message: format!("delimiter {delimiter:?}: a one-byte character is needed"),
            })
        }
    };
    let data = read_csv(path, delim_byte)?;
    let types = column_types(&data, o.column_types);
    let col = |c: &str| {
        if o.quote_columns.unwrap_or(true) {
            quote(c)
        } else {
            c.to_string()
        }
    };
    let tmp = Relation {
        identifier: format!("{}__dbt_tmp", rel.identifier),
        ..rel.clone()
    };
    let defs: Vec<String> = data
        .columns
        .iter()
        .zip(&types)
        .map(|(c, (_, t))| format!("{} {t}", col(c)))
        .collect();
    let staging = format!(
        "__tarmac_seed_{}",
        rel.identifier.replace(|c: char| !c.is_alphanumeric(), "_")
    );
    let fast = o.fast.unwrap_or(true);
    let n = data.rows.len();
    let staging_rel = Relation::new("temp", "main", &staging);
    let drop_staging = format!("DROP TABLE IF EXISTS temp.{}", quote(&staging));
    let fail = |e: DatabaseFailure| {
        if !fast {
            let _ = db.execute(&drop_staging);
        }
        Error::Seed {
            path: path.to_path_buf(),
            message: e.0,
        }
    };
    if !fast {
        // agate's values, as text, cast by the INSERT below
        let cols_text: Vec<String> = (0..data.columns.len())
            .map(|i| format!("c{i} VARCHAR"))
            .collect();
        db.execute(&format!(
            "CREATE OR REPLACE TEMP TABLE {} ({})",
            quote(&staging),
            cols_text.join(", ")
        ))
        .map_err(fail)?;
        let rows: Vec<Vec<Option<String>>> = data
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&types)
                    .map(|(v, (t, _))| match t {
                        Some(t) => agate_value(v, *t),
                        None if is_null(v) => None,
                        None => Some(v.clone()),
                    })
                    .collect()
            })
            .collect();
        db.append_rows(&staging_rel, &rows).map_err(fail)?;
    }
    let load = if fast {
        format!(
            "COPY {} FROM '{}' (FORMAT CSV, HEADER TRUE, DELIMITER '{}')",
            tmp.render(),
            path.display().to_string().replace('\'', "''"),
            delimiter.to_string().replace('\'', "''")
        )
    } else {
        format!(
            "INSERT INTO {} SELECT * FROM temp.{}",
            tmp.render(),
            quote(&staging)
        )
    };
    let steps = [
        format!(
            "CREATE SCHEMA IF NOT EXISTS {}.{}",
            quote(rel.database.as_deref().unwrap_or("memory")),
            quote(rel.schema.as_deref().unwrap_or("main"))
        ),
        format!("DROP TABLE IF EXISTS {}", tmp.render()),
        format!("CREATE TABLE {} ({})", tmp.render(), defs.join(", ")),
        load,
        format!("DROP TABLE IF EXISTS {}", rel.render()),
        format!("DROP VIEW IF EXISTS {}", rel.render()),
        format!(
            "ALTER TABLE {} RENAME TO {}",
            tmp.render(),
            quote(&rel.identifier)
        ),
    ];
    // all of the swap or none of it: a refused step rolls back, and the
    // seed's old table stays
    // (`transaction`, not `transaction_noted`: a cached catalog is emptied)
    db.transaction(&steps).map_err(fail)?;
    if !fast {
        db.execute(&drop_staging).map_err(fail)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_like_agate() {
        assert_eq!(infer(["1", "-2", ""].into_iter()), SeedType::Integer);
        // dbt has no BIGINT for seeds: INTEGER, which then fails to load
        assert_eq!(infer(["1", "9999999999"].into_iter()), SeedType::Integer);
        assert_eq!(infer(["1", "2.5"].into_iter()), SeedType::Double);
        assert_eq!(infer(["2024-01-01", "null"].into_iter()), SeedType::Date);
        assert_eq!(
            infer(["2024-01-01 10:00:00"].into_iter()),
            SeedType::Timestamp
        );
        assert_eq!(infer(["true", "False"].into_iter()), SeedType::Boolean);
        assert_eq!(infer(["a", "1"].into_iter()), SeedType::Text);
        assert_eq!(infer(["0001"].into_iter()), SeedType::Integer);
        // the issue's case: fractional seconds without a T are text to dbt
        assert_eq!(
            infer(["2016-09-01 15:01:00.000"].into_iter()),
            SeedType::Text
        );
        assert_eq!(infer(["1.0", "2.00"].into_iter()), SeedType::Integer);
        assert_eq!(infer(["1.50", "$2", "3%"].into_iter()), SeedType::Double);
        assert_eq!(infer(["NULL", " "].into_iter()), SeedType::Integer);
        assert_eq!(infer(["2024-1-5"].into_iter()), SeedType::Date);
        assert_eq!(
            infer(["2024-01-05T10:20:30+02:00", "2024-01-05T10:20Z"].into_iter()),
            SeedType::Timestamp
        );
        assert_eq!(
            infer(["2024-01-05 10:20:30", "2024-01-05T10:20:30"].into_iter()),
            SeedType::Text
        );
        assert_eq!(infer(["yes", "no"].into_iter()), SeedType::Text);
        assert_eq!(infer(["TRUE", "false"].into_iter()), SeedType::Boolean);
        // more than 28 whole digits: Python's decimal context makes it a float
        assert_eq!(
            infer(["1234567890123456789012345678901"].into_iter()),
            SeedType::Double
        );
        assert_eq!(
            agate_names(vec!["a".into(), "".into(), "a".into()]),
            ["a", "b", "a_2"]
        );
        assert_eq!(
            parse_number("-$1,000.50").and_then(|n| n.text()).as_deref(),
            Some("-1000.50")
        );
    }

    /// A seed loaded through the recording adapter, without DuckDB.
    mod recorded {
        use dbt_jinja::database::{Call, Recording};

        use super::super::*;

        fn seed_file(d: &tempfile::TempDir) -> std::path::PathBuf {
            let f = d.path().join("s.csv");
            std::fs::write(&f, "id,name,ok\n1,a,true\n2,,no\n").unwrap();
            f
        }

        const SLOW: SeedOptions<'static> = SeedOptions {
            column_types: None,
            delimiter: None,
            quote_columns: None,
            fast: Some(false),
        };

        #[test]
        fn values_go_to_a_staging_table_and_the_swap_is_one_transaction() {
            let d = tempfile::tempdir().unwrap();
            let db = Recording::new();
            let rel = Relation::new("memory", "main", "s");
            assert_eq!(load(&db, &seed_file(&d), &rel, &SLOW).unwrap(), 2);
            let calls = db.calls();
            assert_eq!(
                calls[0],
                Call::Execute(
                    "CREATE OR REPLACE TEMP TABLE \"__tarmac_seed_s\" (c0 VARCHAR, c1 VARCHAR, c2 VARCHAR)"
                        .into()
                )
            );
            // agate's values: an empty cell is NULL, `no` stays text in a
            // text column
            let s = |v: &str| Some(v.to_string());
            assert_eq!(
                calls[1],
                Call::AppendRows(
                    "\"temp\".\"main\".\"__tarmac_seed_s\"".into(),
                    vec![vec![s("1"), s("a"), s("true")], vec![s("2"), None, s("no")]]
                )
            );
            let Call::Transaction(steps) = &calls[2] else {
                panic!("the swap is one transaction: {calls:?}")
            };
            assert_eq!(
                steps[2],
                "CREATE TABLE \"memory\".\"main\".\"s__dbt_tmp\" (\"id\" INTEGER, \"name\" VARCHAR, \"ok\" VARCHAR)"
            );
            assert_eq!(
                steps[3],
                "INSERT INTO \"memory\".\"main\".\"s__dbt_tmp\" SELECT * FROM temp.\"__tarmac_seed_s\""
            );
            assert_eq!(
                steps.last().unwrap(),
                "ALTER TABLE \"memory\".\"main\".\"s__dbt_tmp\" RENAME TO \"s\""
            );
            assert_eq!(
                calls[3],
                Call::Execute("DROP TABLE IF EXISTS temp.\"__tarmac_seed_s\"".into())
            );
            assert_eq!(calls.len(), 4);
        }

        #[test]
        fn a_refused_swap_is_the_seeds_error_and_drops_the_staging_table() {
            let d = tempfile::tempdir().unwrap();
            let f = seed_file(&d);
            let db = Recording::new().failing("RENAME TO", "Catalog Error: s is in use");
            let rel = Relation::new("memory", "main", "s");
            let err = load(&db, &f, &rel, &SLOW).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{}: Catalog Error: s is in use", f.display())
            );
            assert_eq!(
                db.calls().last(),
                Some(&Call::Execute(
                    "DROP TABLE IF EXISTS temp.\"__tarmac_seed_s\"".into()
                ))
            );
        }

        #[test]
        fn fast_seeds_are_copied_by_the_database_itself() {
            let d = tempfile::tempdir().unwrap();
            let f = seed_file(&d);
            let db = Recording::new();
            let rel = Relation::new("memory", "main", "s");
            load(&db, &f, &rel, &SeedOptions::default()).unwrap();
            let calls = db.calls();
            assert_eq!(calls.len(), 1, "{calls:?}");
            let Call::Transaction(steps) = &calls[0] else {
                panic!("{calls:?}")
            };
            assert!(steps[3].starts_with("COPY \"memory\".\"main\".\"s__dbt_tmp\" FROM '"));
        }
    }

    #[test]
    fn loads_a_seed() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("s.csv");
        std::fs::write(&f, "id,name,ok,day\n1,a,true,2024-01-02\n2,,false,\n").unwrap();
        // COPY of the file (dbt-duckdb's `fast`), and agate's values
        // through DuckDB's appender (`fast: false`)
        for fast in [None, Some(false)] {
            let db = crate::db::Db::new(warehouse::duckdb::Connection::open_in_memory().unwrap());
            let rel = Relation::new("memory", "main", "s");
            let o = SeedOptions {
                fast,
                ..SeedOptions::default()
            };
            assert_eq!(load(&db, &f, &rel, &o).unwrap(), 2);
            let cols = db.columns(&rel).unwrap();
            let types: Vec<&str> = cols.iter().map(|c| c.1.as_str()).collect();
            assert_eq!(types, ["INTEGER", "VARCHAR", "BOOLEAN", "DATE"]);
            let r = db
                .query("SELECT count(*) FROM s WHERE name IS NULL AND day IS NULL AND NOT ok")
                .unwrap();
            assert_eq!(r.rows[0][0], minijinja::Value::from(1), "fast: {fast:?}");
            // the staging table is gone; loading again replaces the table
            assert_eq!(load(&db, &f, &rel, &o).unwrap(), 2);
            let r = db.query("SELECT count(*) FROM s").unwrap();
            assert_eq!(r.rows[0][0], minijinja::Value::from(2));
            let r = db
                .query(
                    "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '__tarmac_seed%'",
                )
                .unwrap();
            assert_eq!(r.rows[0][0], minijinja::Value::from(0), "fast: {fast:?}");
        }
    }
}
