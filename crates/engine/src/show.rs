//! `tarmac show`: a model's compiled SQL (or an inline query) run with a
//! limit, printed as dbt 1.10's `show` prints it.
//!
//! dbt turns the rows into an agate table (its type tester over the Python
//! values the DuckDB driver returns: `int` → Integer, `float`/`Decimal` →
//! Number, `date`, `datetime`, `bool`, and text for strings, containers and
//! anything else) and prints it with agate's `print_table` (numbers grouped
//! and rounded to at most 3 places, cells cut at 20 characters, at most 6
//! columns) or `to_json`. [`Table`] keeps those types so both outputs come
//! out the same as dbt's.

use std::fmt::Write as _;

use warehouse::duckdb::types::{TimeUnit, Value as D};

use crate::db::Db;
use crate::error::Result;

/// One cell, typed as agate types it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    /// A Python `int` (agate's Integer for dbt): printed as is.
    Int(i128),
    /// A `float` or `Decimal`: the value as a plain decimal string
    /// (`-12.50`), and whether it came from a float (JSON keeps floats).
    Number(String),
    Bool(bool),
    Date(chrono::NaiveDate),
    DateTime(chrono::NaiveDateTime),
    /// Strings, and what the driver gives as other objects (printed with
    /// Python's `str`), lists and structs as JSON text as dbt does.
    Text(String),
}

/// agate's column types, in the order dbt's type tester tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integer,
    Number,
    Date,
    DateTime,
    Boolean,
    Text,
}

/// Query results as agate holds them.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub kinds: Vec<Kind>,
    pub rows: Vec<Vec<Cell>>,
}

/// Run `sql` and keep its rows typed as agate would.
pub fn query(db: &Db, sql: &str) -> Result<Table> {
    db.with_conn(|conn| {
        let mut stmt = conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        let names = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
        // a column of DuckDB's NULL type (`select null as n`): the driver
        // panics on reading it, and every value is NULL anyway
        let null_typed: Vec<bool> = (0..names.len())
            .map(|i| {
                rows.as_ref().is_some_and(|s| {
                    matches!(
                        s.column_type(i),
                        warehouse::duckdb::arrow::datatypes::DataType::Null
                    )
                })
            })
            .collect();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut vals = Vec::with_capacity(names.len());
            for (i, null) in null_typed.iter().enumerate() {
                vals.push(if *null {
                    Cell::Null
                } else {
                    cell(row.get_ref(i)?.to_owned())
                });
            }
            out.push(vals);
        }
        Ok(Table::new(names, out))
    })
}

fn micros(unit: TimeUnit, n: i64) -> i64 {
    match unit {
        TimeUnit::Second => n.saturating_mul(1_000_000),
        TimeUnit::Millisecond => n.saturating_mul(1_000),
        TimeUnit::Microsecond => n,
        TimeUnit::Nanosecond => n / 1_000,
    }
}

/// A DuckDB value as the Python driver hands it to agate.
fn cell(v: D) -> Cell {
    match v {
        D::Null => Cell::Null,
        D::Boolean(b) => Cell::Bool(b),
        D::TinyInt(i) => Cell::Int(i.into()),
        D::SmallInt(i) => Cell::Int(i.into()),
        D::Int(i) => Cell::Int(i.into()),
        D::BigInt(i) => Cell::Int(i.into()),
        D::HugeInt(i) => Cell::Int(i),
        D::UTinyInt(i) => Cell::Int(i.into()),
        D::USmallInt(i) => Cell::Int(i.into()),
        D::UInt(i) => Cell::Int(i.into()),
        D::UBigInt(i) => Cell::Int(i.into()),
        D::Float(f) => float_cell(f64::from(f)),
        D::Double(f) => float_cell(f),
        D::Decimal(d) => Cell::Number(d.to_string()),
        D::Text(s) => Cell::Text(s),
        D::Date32(days) => chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
            .map(Cell::Date)
            .unwrap_or(Cell::Int(days.into())),
        D::Timestamp(unit, n) => chrono::DateTime::from_timestamp_micros(micros(unit, n))
            .map(|d| Cell::DateTime(d.naive_utc()))
            .unwrap_or(Cell::Int(n.into())),
        D::Time64(unit, n) => {
            let us = micros(unit, n);
            let t = chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                (us / 1_000_000) as u32,
                ((us % 1_000_000) * 1000) as u32,
            );
            match t {
                Some(t) if us % 1_000_000 == 0 => Cell::Text(t.format("%H:%M:%S").to_string()),
                Some(t) => Cell::Text(t.format("%H:%M:%S%.6f").to_string()),
                None => Cell::Int(n.into()),
            }
        }
        D::Enum(s) => Cell::Text(s),
        D::List(items) | D::Array(items) => Cell::Text(json_container(&items)),
        other => Cell::Text(format!("{other:?}")),
    }
}

/// Python's float as a `Decimal(repr(f))` would hold it.
fn float_cell(f: f64) -> Cell {
    if !f.is_finite() {
        return Cell::Number(crate::extras::py_float(f));
    }
    Cell::Number(plain_decimal(&crate::extras::py_float(f)))
}

/// `1.5e-05` → `0.000015`: a number's text without an exponent.
fn plain_decimal(s: &str) -> String {
    let Some((m, e)) = s.split_once(['e', 'E']) else {
        return s.to_string();
    };
    let exp: i64 = e.parse().unwrap_or(0);
    let (neg, m) = match m.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, m),
    };
    let (int, frac) = m.split_once('.').unwrap_or((m, ""));
    let digits = format!("{int}{frac}");
    let point = int.len() as i64 + exp;
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{}{body}", if neg { "-" } else { "" })
}

/// A list value as dbt writes containers: `json.dumps` of the Python value.
fn json_container(items: &[D]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|v| match cell(v.clone()) {
            Cell::Null => "null".into(),
            Cell::Int(i) => i.to_string(),
            Cell::Number(n) => n,
            Cell::Bool(b) => b.to_string(),
            Cell::Text(s) if matches!(v, D::List(_) | D::Array(_)) => s,
            Cell::Text(s) => json_str(&s),
            Cell::Date(d) => json_str(&d.to_string()),
            Cell::DateTime(d) => json_str(&py_datetime(&d, ' ')),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Python's `str(datetime)` (`sep` ' ') or `isoformat()` (`sep` 'T').
fn py_datetime(d: &chrono::NaiveDateTime, sep: char) -> String {
    use chrono::Timelike;
    if d.nanosecond() / 1000 == 0 {
        d.format(&format!("%Y-%m-%d{sep}%H:%M:%S")).to_string()
    } else {
        d.format(&format!("%Y-%m-%d{sep}%H:%M:%S%.6f")).to_string()
    }
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii`).
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Table {
    /// Rows typed column by column as dbt's type tester does: a column of
    /// strings is text (kept as given: dbt forces it to Text, `"null"`
    /// stays a string), otherwise the first of Integer, Number, Date, DateTime, Boolean that
    /// every value fits (an all-NULL column is Integer).
    pub fn new(columns: Vec<String>, rows: Vec<Vec<Cell>>) -> Table {
        let mut kinds = Vec::with_capacity(columns.len());
        for j in 0..columns.len() {
            let col = || rows.iter().map(|r| &r[j]).filter(|c| **c != Cell::Null);
            let fits = |k: Kind| {
                col().all(|c| match k {
                    Kind::Integer => matches!(c, Cell::Int(_)),
                    Kind::Number => matches!(c, Cell::Number(_)),
                    Kind::Date => matches!(c, Cell::Date(_)),
                    Kind::DateTime => matches!(c, Cell::DateTime(_)),
                    Kind::Boolean => matches!(c, Cell::Bool(_)),
                    Kind::Text => true,
                })
            };
            let kind = if col().any(|c| matches!(c, Cell::Text(_))) {
                Kind::Text
            } else {
                [
                    Kind::Integer,
                    Kind::Number,
                    Kind::Date,
                    Kind::DateTime,
                    Kind::Boolean,
                ]
                .into_iter()
                .find(|k| fits(*k))
                .unwrap_or(Kind::Text)
            };
            kinds.push(kind);
        }
        // agate renames repeated column names: x, x_2, ...
        let mut seen: Vec<String> = Vec::new();
        let mut names = Vec::with_capacity(columns.len());
        for c in columns {
            let mut name = c.clone();
            let mut i = 2;
            while seen.contains(&name) {
                name = format!("{c}_{i}");
                i += 1;
            }
            seen.push(name.clone());
            names.push(name);
        }
        Table {
            columns: names,
            kinds,
            rows,
        }
    }

    /// agate's `print_table(max_rows=None)` as dbt's `show` calls it: 6
    /// columns at most (then `...`), cells and names cut to 20 characters,
    /// text left-aligned, the rest right-aligned, numbers as babel formats
    /// `#,##0.<places>` with at most 3 places (`…` when cut).
    pub fn print_table(&self) -> String {
        const MAX_COLUMNS: usize = 6;
        const MAX_WIDTH: usize = 20;
        let cut = |s: String| {
            if s.chars().count() > MAX_WIDTH {
                format!("{}...", s.chars().take(MAX_WIDTH - 3).collect::<String>())
            } else {
                s
            }
        };
        let truncated = self.columns.len() > MAX_COLUMNS;
        let shown = self.columns.len().min(MAX_COLUMNS);
        let mut header: Vec<String> = self.columns[..shown]
            .iter()
            .map(|c| cut(c.clone()))
            .collect();
        if truncated {
            header.push("...".into());
        }
        // decimal places per Number column, over all rows
        let places: Vec<Option<(usize, bool)>> = (0..shown)
            .map(|j| {
                (self.kinds[j] == Kind::Number).then(|| {
                    let p = self
                        .rows
                        .iter()
                        .filter_map(|r| match &r[j] {
                            Cell::Number(n) => Some(decimal_places(n)),
                            _ => None,
                        })
                        .max()
                        .unwrap_or(0);
                    (p.min(3), p > 3)
                })
            })
            .collect();
        let mut data = Vec::with_capacity(self.rows.len());
        for r in &self.rows {
            let mut line: Vec<String> = Vec::with_capacity(header.len());
            for (j, c) in r.iter().enumerate().take(shown) {
                let text = match c {
                    Cell::Null => String::new(),
                    Cell::Number(n) => match places[j] {
                        Some((p, ell)) if !n.contains("inf") && !n.contains("nan") => {
                            format!("{}{}", format_number(n, p), if ell { "…" } else { "" })
                        }
                        _ => n.clone(),
                    },
                    other => py_str(other),
                };
                line.push(cut(text));
            }
            if truncated {
                line.push("...".into());
            }
            data.push(line);
        }
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for line in &data {
            for (j, v) in line.iter().enumerate() {
                widths[j] = widths[j].max(v.chars().count());
            }
        }
        let kind_at = |j: usize| self.kinds.get(j).copied().unwrap_or(Kind::Integer);
        let row = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(j, d)| {
                    let pad = widths[j].saturating_sub(d.chars().count());
                    if kind_at(j) == Kind::Text {
                        format!(" {d}{} ", " ".repeat(pad))
                    } else {
                        format!(" {}{d} ", " ".repeat(pad))
                    }
                })
                .collect();
            format!("|{}|\n", parts.join("|"))
        };
        let mut out = row(&header);
        let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let _ = writeln!(out, "| {} |", dashes.join(" | "));
        for line in &data {
            out.push_str(&row(line));
        }
        out
    }

    /// The rows as agate's `to_json` writes them and dbt's `ShowNode`
    /// loads them back: a list of objects (`indent` spaces deep), numbers
    /// as Python floats, dates in ISO format, non-ASCII escaped.
    pub fn json_rows(&self, indent: usize) -> String {
        if self.rows.is_empty() {
            return "[]".into();
        }
        let pad = |n: usize| " ".repeat(n);
        let mut out = String::from("[\n");
        for (i, r) in self.rows.iter().enumerate() {
            let _ = writeln!(out, "{}{{", pad(indent + 2));
            for (j, c) in r.iter().enumerate() {
                let v = match c {
                    Cell::Null => "null".into(),
                    Cell::Int(n) => n.to_string(),
                    Cell::Number(n) => match n.parse::<f64>() {
                        Ok(f) if f.is_finite() => crate::extras::py_float(f),
                        Ok(f) if f.is_nan() => "NaN".into(),
                        Ok(f) if f > 0.0 => "Infinity".into(),
                        Ok(_) => "-Infinity".into(),
                        Err(_) => json_str(n),
                    },
                    Cell::Bool(b) => b.to_string(),
                    Cell::Date(d) => json_str(&d.to_string()),
                    Cell::DateTime(d) => json_str(&py_datetime(d, 'T')),
                    Cell::Text(s) => json_str(s),
                };
                let _ = write!(
                    out,
                    "{}{}: {v}{}",
                    pad(indent + 4),
                    json_str(&self.columns[j]),
                    if j + 1 < r.len() { ",\n" } else { "\n" }
                );
            }
            let _ = write!(
                out,
                "{}}}{}",
                pad(indent + 2),
                if i + 1 < self.rows.len() { ",\n" } else { "\n" }
            );
        }
        let _ = write!(out, "{}]", pad(indent));
        out
    }

    /// The rows as compact JSON (`json.dumps` of agate's `to_json`), as in
    /// the `preview` field of dbt's `ShowNode` log event.
    pub fn json_compact(&self) -> String {
        // the indented form without its layout: no string holds a raw
        // newline (json_str escapes them), so joining lines is safe
        self.json_rows(0)
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("")
            .replace(",\"", ", \"")
            .replace(",{", ", {")
    }
}

/// Python's `str()` of a non-number cell.
fn py_str(c: &Cell) -> String {
    match c {
        Cell::Null => String::new(),
        Cell::Int(n) => n.to_string(),
        Cell::Number(n) => n.clone(),
        Cell::Bool(b) => if *b { "True" } else { "False" }.into(),
        Cell::Date(d) => d.to_string(),
        Cell::DateTime(d) => py_datetime(d, ' '),
        Cell::Text(s) => s.clone(),
    }
}

/// Decimal places of a number once trailing zeros are dropped (Python's
/// `Decimal.normalize()`, as agate's `max_precision` counts them).
fn decimal_places(n: &str) -> usize {
    match n.split_once('.') {
        Some((_, frac)) => frac.trim_end_matches('0').len(),
        None => 0,
    }
}

/// babel's `format_decimal(v, '#,##0.<places>')` in en_US: rounded half to
/// even, thousands grouped with `,`.
fn format_number(n: &str, places: usize) -> String {
    let (neg, abs) = match n.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, n.strip_prefix('+').unwrap_or(n)),
    };
    let (int, frac) = abs.split_once('.').unwrap_or((abs, ""));
    // digits of the value scaled by 10^places, then the rest to round away
    let mut digits: Vec<u8> = int
        .bytes()
        .chain(frac.bytes().chain(std::iter::repeat(b'0')).take(places))
        .map(|b| b - b'0')
        .collect();
    let rest: Vec<u8> = frac.bytes().skip(places).map(|b| b - b'0').collect();
    let round_up = match rest.first() {
        Some(&d) if d > 5 => true,
        Some(&5) => rest[1..].iter().any(|&d| d > 0) || digits.last().is_some_and(|d| d % 2 == 1),
        _ => false,
    };
    if round_up {
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, 1);
                break;
            }
            i -= 1;
            if digits[i] == 9 {
                digits[i] = 0;
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let split = digits.len() - places;
    let int_digits: String = digits[..split].iter().map(|d| (b'0' + d) as char).collect();
    let int_digits = int_digits.trim_start_matches('0');
    let int_digits = if int_digits.is_empty() {
        "0"
    } else {
        int_digits
    };
    let mut grouped = String::new();
    for (i, ch) in int_digits.chars().enumerate() {
        if i > 0 && (int_digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let frac_digits: String = digits[split..].iter().map(|d| (b'0' + d) as char).collect();
    let body = if places > 0 {
        format!("{grouped}.{frac_digits}")
    } else {
        grouped
    };
    let zero = digits.iter().all(|d| *d == 0);
    format!("{}{body}", if neg && !zero { "-" } else { "" })
}

/// A JSON value as Python's `json.dumps` writes it by default (`", "` and
/// `": "` separators, non-ASCII escaped): dbt's `ls --output json` lines.
pub fn py_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => crate::extras::py_float(f),
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => json_str(s),
        serde_json::Value::Array(a) => {
            format!("[{}]", a.iter().map(py_json).collect::<Vec<_>>().join(", "))
        }
        serde_json::Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", json_str(k), py_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// dbt's `ShowNode` message: the table (or JSON) under its heading.
pub fn message(node_name: &str, is_inline: bool, table: &Table, json: bool) -> String {
    if json {
        let rows = table.json_rows(2);
        if is_inline {
            format!("{{\n  \"show\": {rows}\n}}")
        } else {
            format!(
                "{{\n  \"node\": {},\n  \"show\": {rows}\n}}",
                json_str(node_name)
            )
        }
    } else if is_inline {
        format!("Previewing inline node:\n{}", table.print_table())
    } else {
        format!("Previewing node '{node_name}':\n{}", table.print_table())
    }
}

/// dbt's `get_limit_sql`: the limit appended on its own line (a query with
/// its own `limit` then fails, as in dbt); a negative limit means none.
pub fn limited_sql(sql: &str, limit: i64) -> String {
    if limit < 0 {
        sql.to_string()
    } else {
        format!("{sql}\n  limit {limit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(sql: &str) -> Table {
        let db = Db::new(warehouse::duckdb::Connection::open_in_memory().unwrap());
        query(&db, sql).unwrap()
    }

    #[test]
    fn prints_like_agate() {
        // the cases compared with dbt 1.10's `show --inline` by hand
        let t = table(
            "select * from (values (1.5, -1234567.25::double, 'x', timestamp '2020-01-02 03:04:05.5', date '2020-01-01', [1,2], 'y'), \
             (2.25, null, null, timestamp '2020-01-02 03:04:05', null, null, 'z')) t(a,b,c,d,e)",
        );
        assert_eq!(
            t.print_table(),
            "|    a |             b | c |                    d |          e | col5   | ... |\n\
             | ---- | ------------- | - | -------------------- | ---------- | ------ | --- |\n\
             | 1.50 | -1,234,567.25 | x | 2020-01-02 03:04:... | 2020-01-01 | [1, 2] | ... |\n\
             | 2.25 |               |   |  2020-01-02 03:04:05 |            |        | ... |\n"
        );
        let t = table(
            "select 1234567 as big, 1.5::decimal(10,2) as dec, 3.14159265 as dbl, 'héllo' as t, '123' as numtext, null as n, true as b",
        );
        assert_eq!(
            t.print_table(),
            "|     big | dec |    dbl | t     | numtext | n | ... |\n\
             | ------- | --- | ------ | ----- | ------- | - | --- |\n\
             | 1234567 | 1.5 | 3.142… | héllo | 123     |   | ... |\n"
        );
        assert_eq!(
            t.json_compact(),
            r#"[{"big": 1234567, "dec": 1.5, "dbl": 3.14159265, "t": "h\u00e9llo", "numtext": "123", "n": null, "b": true}]"#
        );
        let t = table("select 'a' as x, 'b' as x");
        assert_eq!(t.print_table(), "| x | x_2 |\n| - | --- |\n| a | b   |\n");
    }

    #[test]
    fn numbers_round_half_even_and_group() {
        assert_eq!(format_number("1234.5", 0), "1,234");
        assert_eq!(format_number("1235.5", 0), "1,236");
        assert_eq!(format_number("-0.0004", 3), "0.000");
        assert_eq!(format_number("999.9996", 3), "1,000.000");
        assert_eq!(format_number("3.14159265", 3), "3.142");
        assert_eq!(plain_decimal("1.5e-05"), "0.000015");
        assert_eq!(plain_decimal("1e+16"), "10000000000000000");
    }

    #[test]
    fn json_as_dbt_prints_it() {
        let t = table(
            "select 1 as id, timestamp '2020-01-02 03:04:05.5' as ts, date '2020-01-01' as d",
        );
        assert_eq!(
            message("m", false, &t, true),
            "{\n  \"node\": \"m\",\n  \"show\": [\n    {\n      \"id\": 1,\n      \"ts\": \"2020-01-02T03:04:05.500000\",\n      \"d\": \"2020-01-01\"\n    }\n  ]\n}"
        );
        let empty = table("select 1 as id where false");
        assert_eq!(message("m", true, &empty, true), "{\n  \"show\": []\n}");
        assert_eq!(limited_sql("select 1", 5), "select 1\n  limit 5");
        assert_eq!(limited_sql("select 1", -1), "select 1");
    }
}
