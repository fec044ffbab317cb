//! Output modes, as in the DuckDB CLI: `duckbox`, `box`, `table`, `markdown`
//! (laid out once every row to show is known), and `csv`, `json`, `jsonl`,
//! `line` (streamed batch by batch).
//!
//! Why streaming matters: `tarmac sql -c "…" > big.csv` must run in constant
//! memory whatever the result size, so the data modes write each Arrow batch
//! as it arrives and never hold rows. The box modes need every shown row to
//! size their columns, so they keep at most `max_rows` (the first half and a
//! ring of the last half) and count the rest, as the DuckDB CLI does.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::str::FromStr;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
use warehouse::duckdb::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeListArray, LargeListArray, ListArray,
    MapArray, StructArray,
};
use warehouse::duckdb::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use warehouse::duckdb::arrow::record_batch::RecordBatch;
use warehouse::duckdb::arrow::util::display::{ArrayFormatter, FormatOptions};
use warehouse::duckdb::core::{LogicalTypeHandle, LogicalTypeId};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// DuckDB's default: box drawing, column types, elided rows, hidden columns.
    Duckbox,
    /// Box drawing (SQLite's `box`).
    Box,
    /// ASCII `+---+` table.
    Table,
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    Markdown,
    /// `column = value`, one line per column, a blank line between rows.
    Line,
}

impl Mode {
    pub const ALL: [Mode; 8] = [
        Mode::Duckbox,
        Mode::Box,
        Mode::Table,
        Mode::Csv,
        Mode::Json,
        Mode::Jsonl,
        Mode::Markdown,
        Mode::Line,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Duckbox => "duckbox",
            Mode::Box => "box",
            Mode::Table => "table",
            Mode::Csv => "csv",
            Mode::Json => "json",
            Mode::Jsonl => "jsonl",
            Mode::Markdown => "markdown",
            Mode::Line => "line",
        }
    }

    /// Modes laid out as a grid, which honour `.maxrows` and `.maxwidth`.
    pub fn is_grid(self) -> bool {
        matches!(
            self,
            Mode::Duckbox | Mode::Box | Mode::Table | Mode::Markdown
        )
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
                format!("unknown mode {s:?}: one of {}", names.join(", "))
            })
    }
}

/// Limits and styling of one result.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Rows shown by the grid modes; the rest are counted. `None`: all.
    pub max_rows: Option<usize>,
    /// Width of the grid modes in terminal cells. `None`: unlimited.
    pub max_width: Option<usize>,
    /// ANSI styling (NULL dimmed), only ever on a terminal.
    pub color: bool,
}

/// A result column: its name, its DuckDB type and how to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// DuckDB's type name in lower case, as the DuckDB CLI's duckbox shows it.
    pub type_name: String,
    /// Right-aligned in grids, a bare number in JSON.
    pub numeric: bool,
    /// A JSON value: written as is (not as a string) in JSON modes.
    pub json: bool,
}

impl Column {
    /// A text column (for tables the shell builds itself, like `.models`).
    pub fn text(name: &str) -> Column {
        Column {
            name: name.to_string(),
            type_name: "varchar".into(),
            numeric: false,
            json: false,
        }
    }

    /// A column described by DuckDB's logical type (names and JSON-ness come
    /// from there: Arrow loses the JSON alias).
    pub fn from_logical(name: &str, t: &LogicalTypeHandle) -> Column {
        let type_name = type_name(t);
        Column {
            name: name.to_string(),
            numeric: is_numeric_id(t.id()),
            json: t
                .get_alias()
                .is_some_and(|a| a.eq_ignore_ascii_case("json")),
            type_name,
        }
    }

    /// A column described by its Arrow type alone.
    pub fn from_arrow(name: &str, t: &DataType) -> Column {
        Column {
            name: name.to_string(),
            type_name: arrow_type_name(t),
            numeric: is_numeric_arrow(t),
            json: false,
        }
    }
}

fn is_numeric_id(id: LogicalTypeId) -> bool {
    use LogicalTypeId::*;
    matches!(
        id,
        Tinyint
            | Smallint
            | Integer
            | Bigint
            | Hugeint
            | UTinyint
            | USmallint
            | UInteger
            | UBigint
            | UHugeint
            | Float
            | Double
            | Decimal
            | Bignum
    )
}

fn is_numeric_arrow(t: &DataType) -> bool {
    t.is_numeric()
}

/// DuckDB's name of a logical type, lower case (`int32`, `decimal(18,3)`,
/// `varchar[]`, `struct(a int32)`).
pub fn type_name(t: &LogicalTypeHandle) -> String {
    use LogicalTypeId::*;
    if let Some(alias) = t.get_alias() {
        return alias.to_ascii_lowercase();
    }
    match t.id() {
        Boolean => "boolean".into(),
        Tinyint => "int8".into(),
        Smallint => "int16".into(),
        Integer => "int32".into(),
        Bigint => "int64".into(),
        Hugeint => "int128".into(),
        UTinyint => "uint8".into(),
        USmallint => "uint16".into(),
        UInteger => "uint32".into(),
        UBigint => "uint64".into(),
        UHugeint => "uint128".into(),
        Float => "float".into(),
        Double => "double".into(),
        Timestamp => "timestamp".into(),
        TimestampS => "timestamp_s".into(),
        TimestampMs => "timestamp_ms".into(),
        TimestampNs => "timestamp_ns".into(),
        TimestampTZ => "timestamp with time zone".into(),
        Date => "date".into(),
        Time => "time".into(),
        TimeNs => "time_ns".into(),
        TimeTZ => "time with time zone".into(),
        Interval => "interval".into(),
        Varchar => "varchar".into(),
        Blob => "blob".into(),
        Decimal => format!("decimal({},{})", t.decimal_width(), t.decimal_scale()),
        Enum => "enum".into(),
        List => format!("{}[]", type_name(&t.child(0))),
        Array => format!("{}[]", type_name(&t.child(0))),
        Struct => {
            let fields: Vec<String> = (0..t.num_children())
                .map(|i| format!("{} {}", t.child_name(i), type_name(&t.child(i))))
                .collect();
            format!("struct({})", fields.join(", "))
        }
        Map => format!(
            "map({}, {})",
            type_name(&t.child(0)),
            type_name(&t.child(1))
        ),
        Uuid => "uuid".into(),
        Union => "union".into(),
        Bit => "bit".into(),
        Bignum => "bignum".into(),
        SqlNull => "\"null\"".into(),
        Geometry => "geometry".into(),
        Variant => "variant".into(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

fn arrow_type_name(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "varchar".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        other => other.to_string().to_ascii_lowercase(),
    }
}

/// A cell as text; `None` is SQL NULL.
pub type Cell = Option<String>;

/// Writes one result in one mode: columns first, then batches or rows, then
/// `finish`.
pub struct ResultWriter<'w> {
    out: &'w mut dyn Write,
    mode: Mode,
    columns: Vec<Column>,
    opts: RenderOptions,
    /// Rows received so far.
    total: u64,
    /// Grid modes: the first rows, up to the head budget.
    head: Vec<Vec<Cell>>,
    /// Grid modes: the last rows, up to the tail budget.
    tail: VecDeque<Vec<Cell>>,
    /// Streaming modes: bytes waiting to be written.
    buf: Vec<u8>,
    scratch: String,
}

/// Bytes buffered by the streaming modes before a write.
const FLUSH_AT: usize = 1 << 16;

impl<'w> ResultWriter<'w> {
    pub fn new(
        out: &'w mut dyn Write,
        mode: Mode,
        columns: Vec<Column>,
        opts: RenderOptions,
    ) -> ResultWriter<'w> {
        let mut w = ResultWriter {
            out,
            mode,
            columns,
            opts,
            total: 0,
            head: Vec::new(),
            tail: VecDeque::new(),
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            scratch: String::new(),
        };
        if mode == Mode::Csv {
            let names: Vec<String> = w.columns.iter().map(|c| c.name.clone()).collect();
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    w.buf.push(b',');
                }
                csv_field(&mut w.buf, n);
            }
            w.buf.extend_from_slice(b"\n");
        }
        w
    }

    /// Budgets of the grid modes: rows kept at the start and at the end.
    fn budgets(&self) -> (u64, u64) {
        match self.opts.max_rows {
            Some(n) if self.mode.is_grid() => {
                let n = n.max(2) as u64;
                (n.div_ceil(2), n / 2)
            }
            _ => (u64::MAX, 0),
        }
    }

    /// Adds one Arrow batch of the result.
    pub fn push_batch(&mut self, batch: &RecordBatch) -> io::Result<()> {
        let fmts: Vec<CellFormat<'_>> = batch
            .columns()
            .iter()
            .map(|a| CellFormat::new(a.as_ref()))
            .collect();
        let n = batch.num_rows();
        match self.mode {
            Mode::Csv => {
                for row in 0..n {
                    for (i, f) in fmts.iter().enumerate() {
                        if i > 0 {
                            self.buf.push(b',');
                        }
                        if let Some(s) = f.str_value(row) {
                            csv_field(&mut self.buf, s);
                        } else if !f.is_null(row) {
                            self.scratch.clear();
                            f.write(row, &mut self.scratch);
                            csv_field(&mut self.buf, &self.scratch);
                        }
                    }
                    self.buf.extend_from_slice(b"\n");
                    self.total += 1;
                    self.maybe_flush()?;
                }
            }
            Mode::Json | Mode::Jsonl => {
                for row in 0..n {
                    self.json_row_start();
                    for (i, f) in fmts.iter().enumerate() {
                        if i > 0 {
                            self.buf.push(b',');
                        }
                        json_string(&mut self.buf, &self.columns[i].name);
                        self.buf.push(b':');
                        if self.columns.get(i).is_some_and(|c| c.json) && !f.is_null(row) {
                            self.scratch.clear();
                            f.write(row, &mut self.scratch);
                            self.buf.extend_from_slice(self.scratch.as_bytes());
                        } else {
                            f.write_json(row, &mut self.buf, &mut self.scratch);
                        }
                    }
                    self.json_row_end();
                    self.maybe_flush()?;
                }
            }
            Mode::Line => {
                for row in 0..n {
                    let cells: Vec<Cell> = fmts.iter().map(|f| f.cell(row)).collect();
                    self.line_row(&cells);
                    self.maybe_flush()?;
                }
            }
            _ => {
                let (head, tail) = self.budgets();
                for row in 0..n {
                    let keep_head = self.total < head;
                    if keep_head || tail > 0 {
                        let cells: Vec<Cell> = fmts.iter().map(|f| f.cell(row)).collect();
                        if keep_head {
                            self.head.push(cells);
                        } else {
                            if self.tail.len() as u64 == tail {
                                self.tail.pop_front();
                            }
                            self.tail.push_back(cells);
                        }
                    }
                    self.total += 1;
                }
            }
        }
        Ok(())
    }

    /// Adds one row of text cells (for tables the shell makes itself).
    pub fn push_row(&mut self, cells: Vec<Cell>) -> io::Result<()> {
        match self.mode {
            Mode::Csv => {
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(b',');
                    }
                    if let Some(s) = c {
                        csv_field(&mut self.buf, s);
                    }
                }
                self.buf.extend_from_slice(b"\n");
                self.total += 1;
            }
            Mode::Json | Mode::Jsonl => {
                self.json_row_start();
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(b',');
                    }
                    let col = &self.columns[i.min(self.columns.len().saturating_sub(1))];
                    json_string(&mut self.buf, &col.name);
                    self.buf.push(b':');
                    match c {
                        None => self.buf.extend_from_slice(b"null"),
                        Some(s) if col.numeric && s.parse::<f64>().is_ok_and(f64::is_finite) => {
                            self.buf.extend_from_slice(s.as_bytes())
                        }
                        Some(s) => json_string(&mut self.buf, s),
                    }
                }
                self.json_row_end();
            }
            Mode::Line => self.line_row(&cells),
            _ => {
                let (head, tail) = self.budgets();
                if self.total < head {
                    self.head.push(cells);
                } else if tail > 0 {
                    if self.tail.len() as u64 == tail {
                        self.tail.pop_front();
                    }
                    self.tail.push_back(cells);
                }
                self.total += 1;
            }
        }
        self.maybe_flush()
    }

    fn json_row_start(&mut self) {
        if self.mode == Mode::Json {
            self.buf
                .extend_from_slice(if self.total == 0 { b"[" } else { b",\n" });
        }
        self.buf.push(b'{');
    }

    fn json_row_end(&mut self) {
        self.buf.push(b'}');
        if self.mode == Mode::Jsonl {
            self.buf.push(b'\n');
        }
        self.total += 1;
    }

    fn line_row(&mut self, cells: &[Cell]) {
        let name_width = self
            .columns
            .iter()
            .map(|c| c.name.width())
            .max()
            .unwrap_or(0);
        if self.total > 0 {
            self.buf.push(b'\n');
        }
        for (c, v) in self.columns.iter().zip(cells) {
            let pad = name_width.saturating_sub(c.name.width());
            self.buf.extend(std::iter::repeat_n(b' ', pad));
            self.buf.extend_from_slice(c.name.as_bytes());
            self.buf.extend_from_slice(b" = ");
            match v {
                Some(s) => self.buf.extend_from_slice(s.as_bytes()),
                None => self
                    .buf
                    .extend_from_slice(null_text(self.opts.color).as_bytes()),
            }
            self.buf.push(b'\n');
        }
        self.total += 1;
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Rows received so far.
    pub fn rows(&self) -> u64 {
        self.total
    }

    /// Writes what is left: the whole grid, or the end of a JSON array.
    pub fn finish(mut self) -> io::Result<u64> {
        match self.mode {
            Mode::Json => {
                self.buf
                    .extend_from_slice(if self.total == 0 { b"[]\n" } else { b"]\n" });
            }
            Mode::Csv | Mode::Jsonl | Mode::Line => {}
            _ => {
                let grid = Grid::layout(
                    &self.columns,
                    &self.head,
                    self.tail.make_contiguous(),
                    self.total,
                    self.mode,
                    self.opts,
                );
                grid.render(&mut self.buf);
            }
        }
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.total)
    }
}

/// How NULL reads in text modes: dimmed on a terminal so it cannot be
/// mistaken for the string 'NULL'.
fn null_text(color: bool) -> String {
    if color {
        nu_ansi_term::Color::DarkGray
            .italic()
            .paint("NULL")
            .to_string()
    } else {
        "NULL".to_string()
    }
}

/// Writes one CSV field, quoted when it holds a separator, quote or newline.
fn csv_field(buf: &mut Vec<u8>, s: &str) {
    let needs = s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) || s.is_empty();
    if needs {
        buf.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                buf.push(b'"');
            }
            buf.push(b);
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(s.as_bytes());
    }
}

/// Writes a JSON string literal.
fn json_string(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => buf.extend_from_slice(e),
            None => {
                let _ = write!(buf, "\\u{b:04x}");
            }
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// Whether a value is NULL (a column of DuckDB's NULL type has no validity
/// bitmap in Arrow: every value is NULL).
fn null_at(array: &dyn Array, row: usize) -> bool {
    array.data_type() == &DataType::Null || array.is_null(row)
}

/// Formats the values of one Arrow array the way the DuckDB CLI shows them.
struct CellFormat<'a> {
    array: &'a dyn Array,
    /// For the types DuckDB and Arrow print alike (dates, decimals, …).
    fallback: Option<ArrayFormatter<'a>>,
}

const ARROW_OPTIONS: FormatOptions<'static> = FormatOptions::new()
    .with_null("NULL")
    .with_display_error(true)
    .with_time_format(Some("%H:%M:%S%.f"));

impl<'a> CellFormat<'a> {
    fn new(array: &'a dyn Array) -> CellFormat<'a> {
        let native = is_native(array.data_type());
        let fallback = if native {
            None
        } else {
            ArrayFormatter::try_new(array, &ARROW_OPTIONS).ok()
        };
        CellFormat { array, fallback }
    }

    fn is_null(&self, row: usize) -> bool {
        null_at(self.array, row)
    }

    /// The value when it is a string already (no formatting needed).
    fn str_value(&self, row: usize) -> Option<&'a str> {
        if null_at(self.array, row) {
            return None;
        }
        match self.array.data_type() {
            DataType::Utf8 => Some(self.array.as_string::<i32>().value(row)),
            DataType::LargeUtf8 => Some(self.array.as_string::<i64>().value(row)),
            DataType::Utf8View => Some(self.array.as_string_view().value(row)),
            _ => None,
        }
    }

    fn cell(&self, row: usize) -> Cell {
        if null_at(self.array, row) {
            return None;
        }
        let mut s = String::new();
        self.write(row, &mut s);
        Some(s)
    }

    /// Appends the value's text (NULL as `NULL`).
    fn write(&self, row: usize, out: &mut String) {
        match &self.fallback {
            Some(f) => {
                let _ = write!(out, "{}", f.value(row));
            }
            None => write_value(self.array, row, out),
        }
    }

    /// Appends the value as JSON: numbers and booleans bare, lists as arrays,
    /// structs and maps as objects, everything else as a string.
    fn write_json(&self, row: usize, buf: &mut Vec<u8>, scratch: &mut String) {
        write_json_value(self.array, row, buf, scratch);
    }
}

/// Types `write_value` formats itself.
fn is_native(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Null
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Timestamp(_, _)
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Struct(_)
            | DataType::Map(_, _)
    )
}

/// Appends one value as the DuckDB CLI prints it.
fn write_value(array: &dyn Array, row: usize, out: &mut String) {
    if null_at(array, row) {
        out.push_str("NULL");
        return;
    }
    match array.data_type() {
        DataType::Null => out.push_str("NULL"),
        DataType::Boolean => {
            let b = array
                .as_any()
                .downcast_ref::<BooleanArray>()
                .is_some_and(|a| a.value(row));
            out.push_str(if b { "true" } else { "false" });
        }
        DataType::Int8 => push_display(out, array.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => push_display(out, array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => push_display(out, array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => push_display(out, array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => push_display(out, array.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => push_display(out, array.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => push_display(out, array.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => push_display(out, array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float32 => format_float(
            f64::from(array.as_primitive::<Float32Type>().value(row)),
            true,
            out,
        ),
        DataType::Float64 => {
            format_float(array.as_primitive::<Float64Type>().value(row), false, out)
        }
        DataType::Utf8 => out.push_str(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => out.push_str(array.as_string::<i64>().value(row)),
        DataType::Utf8View => out.push_str(array.as_string_view().value(row)),
        DataType::Timestamp(unit, tz) => {
            let (v, per_sec): (i64, i64) = match unit {
                TimeUnit::Second => (array.as_primitive::<TimestampSecondType>().value(row), 1),
                TimeUnit::Millisecond => (
                    array.as_primitive::<TimestampMillisecondType>().value(row),
                    1_000,
                ),
                TimeUnit::Microsecond => (
                    array.as_primitive::<TimestampMicrosecondType>().value(row),
                    1_000_000,
                ),
                TimeUnit::Nanosecond => (
                    array.as_primitive::<TimestampNanosecondType>().value(row),
                    1_000_000_000,
                ),
            };
            format_timestamp(v, per_sec, tz.is_some(), out);
        }
        DataType::List(_) => {
            let list = array.as_any().downcast_ref::<ListArray>();
            if let Some(l) = list {
                write_list(&l.value(row), out);
            }
        }
        DataType::LargeList(_) => {
            if let Some(l) = array.as_any().downcast_ref::<LargeListArray>() {
                write_list(&l.value(row), out);
            }
        }
        DataType::FixedSizeList(_, _) => {
            if let Some(l) = array.as_any().downcast_ref::<FixedSizeListArray>() {
                write_list(&l.value(row), out);
            }
        }
        DataType::Struct(fields) => {
            if let Some(s) = array.as_any().downcast_ref::<StructArray>() {
                out.push('{');
                for (i, (f, col)) in fields.iter().zip(s.columns()).enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "'{}': ", f.name());
                    write_nested(col.as_ref(), row, out);
                }
                out.push('}');
            }
        }
        DataType::Map(_, _) => {
            if let Some(m) = array.as_any().downcast_ref::<MapArray>() {
                let entries = m.value(row);
                out.push('{');
                for i in 0..entries.len() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_nested(entries.column(0).as_ref(), i, out);
                    out.push('=');
                    write_nested(entries.column(1).as_ref(), i, out);
                }
                out.push('}');
            }
        }
        _ => match ArrayFormatter::try_new(array, &ARROW_OPTIONS) {
            Ok(f) => {
                let _ = write!(out, "{}", f.value(row));
            }
            Err(e) => {
                let _ = write!(out, "<{e}>");
            }
        },
    }
}

/// Appends one value as text, as the grid modes show it.
pub fn write_plain(array: &dyn Array, row: usize, out: &mut String) {
    CellFormat::new(array).write(row, out);
}

/// A value inside a list or struct: strings quoted, as DuckDB casts them.
fn write_nested(array: &dyn Array, row: usize, out: &mut String) {
    let quoted = matches!(
        array.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    if quoted && !null_at(array, row) {
        out.push('\'');
        write_value(array, row, out);
        out.push('\'');
    } else {
        write_value(array, row, out);
    }
}

fn write_list(values: &ArrayRef, out: &mut String) {
    out.push('[');
    for i in 0..values.len() {
        if i > 0 {
            out.push_str(", ");
        }
        write_nested(values.as_ref(), i, out);
    }
    out.push(']');
}

fn push_display(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

/// Doubles as DuckDB prints them: shortest round-trip digits, `.0` on whole
/// numbers, exponent form (`1e+20`) for very large and very small ones.
fn format_float(v: f64, single: bool, out: &mut String) {
    if v.is_nan() {
        out.push_str("nan");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
        return;
    }
    let a = v.abs();
    let text = if single {
        format!("{}", v as f32)
    } else {
        format!("{v}")
    };
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let e = if single {
            format!("{:e}", v as f32)
        } else {
            format!("{v:e}")
        };
        match e.split_once('e') {
            Some((mant, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                let _ = write!(out, "{mant}e{sign}{digits:0>2}");
            }
            None => out.push_str(&e),
        }
    } else {
        out.push_str(&text);
        if !text.contains(['.', 'e']) {
            out.push_str(".0");
        }
    }
}

/// `2024-08-12 10:00:00[.fraction][+00]`, as DuckDB prints timestamps
/// (time-zone values are kept in UTC: the build has no ICU).
fn format_timestamp(v: i64, per_sec: i64, tz: bool, out: &mut String) {
    let secs = v.div_euclid(per_sec);
    let frac = v.rem_euclid(per_sec);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        let _ = write!(out, "{y:04}-{m:02}-{d:02}");
    } else if y < 0 {
        let _ = write!(out, "{:04}-{m:02}-{d:02} (BC)", 1 - y);
    } else {
        let _ = write!(out, "{y}-{m:02}-{d:02}");
    }
    let _ = write!(
        out,
        " {:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if frac != 0 {
        let digits = per_sec.ilog10() as usize;
        let mut f = format!("{frac:0digits$}");
        while f.ends_with('0') {
            f.pop();
        }
        out.push('.');
        out.push_str(&f);
    }
    if tz {
        out.push_str("+00");
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Appends one value as JSON.
fn write_json_value(array: &dyn Array, row: usize, buf: &mut Vec<u8>, scratch: &mut String) {
    if null_at(array, row) {
        buf.extend_from_slice(b"null");
        return;
    }
    match array.data_type() {
        DataType::Null => buf.extend_from_slice(b"null"),
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => {
            scratch.clear();
            write_value(array, row, scratch);
            buf.extend_from_slice(scratch.as_bytes());
        }
        DataType::Float32 | DataType::Float64 => {
            scratch.clear();
            write_value(array, row, scratch);
            if scratch.parse::<f64>().is_ok_and(f64::is_finite) {
                buf.extend_from_slice(scratch.as_bytes());
            } else {
                json_string(buf, scratch);
            }
        }
        DataType::Utf8 => json_string(buf, array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => json_string(buf, array.as_string::<i64>().value(row)),
        DataType::Utf8View => json_string(buf, array.as_string_view().value(row)),
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => {
            let values = match array.data_type() {
                DataType::List(_) => array
                    .as_any()
                    .downcast_ref::<ListArray>()
                    .map(|l| l.value(row)),
                DataType::LargeList(_) => array
                    .as_any()
                    .downcast_ref::<LargeListArray>()
                    .map(|l| l.value(row)),
                _ => array
                    .as_any()
                    .downcast_ref::<FixedSizeListArray>()
                    .map(|l| l.value(row)),
            };
            buf.push(b'[');
            if let Some(values) = values {
                for i in 0..values.len() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    write_json_value(values.as_ref(), i, buf, scratch);
                }
            }
            buf.push(b']');
        }
        DataType::Struct(fields) => {
            buf.push(b'{');
            if let Some(s) = array.as_any().downcast_ref::<StructArray>() {
                for (i, (f, col)) in fields.iter().zip(s.columns()).enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    json_string(buf, f.name());
                    buf.push(b':');
                    write_json_value(col.as_ref(), row, buf, scratch);
                }
            }
            buf.push(b'}');
        }
        DataType::Map(_, _) => {
            buf.push(b'{');
            if let Some(m) = array.as_any().downcast_ref::<MapArray>() {
                let entries = m.value(row);
                for i in 0..entries.len() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    scratch.clear();
                    write_value(entries.column(0).as_ref(), i, scratch);
                    let key = std::mem::take(scratch);
                    json_string(buf, &key);
                    buf.push(b':');
                    write_json_value(entries.column(1).as_ref(), i, buf, scratch);
                }
            }
            buf.push(b'}');
        }
        _ => {
            scratch.clear();
            write_value(array, row, scratch);
            json_string(buf, scratch);
        }
    }
}

/// Text shown in a grid cell: control characters made visible so a value
/// cannot break the layout.
fn grid_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(|c| c.is_control()) {
        let mut t = String::with_capacity(s.len() + 8);
        for c in s.chars() {
            match c {
                '\n' => t.push_str("\\n"),
                '\r' => t.push_str("\\r"),
                '\t' => t.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(t, "\\x{:02x}", c as u32);
                }
                c => t.push(c),
            }
        }
        t.into()
    } else {
        s.into()
    }
}

/// `s` cut to `width` terminal cells, ending in `…` when cut.
fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > width {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// The smallest width a column is cut down to before columns are hidden.
const MIN_COLUMN_WIDTH: usize = 8;

/// A laid-out grid: which columns show, how wide, and the rows as text.
struct Grid<'a> {
    mode: Mode,
    columns: Vec<&'a Column>,
    widths: Vec<usize>,
    /// Rows to print; `None` marks the elision (`·`) rows.
    rows: Vec<Option<Vec<Cell>>>,
    hidden_columns: usize,
    total_columns: usize,
    total_rows: u64,
    shown_rows: usize,
    color: bool,
}

impl<'a> Grid<'a> {
    fn layout(
        columns: &'a [Column],
        head: &[Vec<Cell>],
        tail: &[Vec<Cell>],
        total_rows: u64,
        mode: Mode,
        opts: RenderOptions,
    ) -> Grid<'a> {
        let markdown = mode == Mode::Markdown;
        let clean = |r: &Vec<Cell>| -> Vec<Cell> {
            r.iter()
                .map(|c| {
                    c.as_deref().map(|s| {
                        let t = grid_text(s);
                        if markdown {
                            t.replace('|', "\\|")
                        } else {
                            t.into_owned()
                        }
                    })
                })
                .collect()
        };
        let mut rows: Vec<Option<Vec<Cell>>> = head.iter().map(|r| Some(clean(r))).collect();
        let shown = head.len() + tail.len();
        if (shown as u64) < total_rows {
            rows.push(None);
        }
        rows.extend(tail.iter().map(|r| Some(clean(r))));

        let null_w = 4;
        let mut widths: Vec<usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut w = c.name.width();
                if mode == Mode::Duckbox {
                    w = w.max(c.type_name.width());
                }
                for r in rows.iter().flatten() {
                    let cw = r
                        .get(i)
                        .map_or(0, |c| c.as_deref().map_or(null_w, |s| s.width()));
                    w = w.max(cw);
                }
                w.max(1)
            })
            .collect();

        let mut keep = columns.len();
        if let Some(max) = opts.max_width.filter(|m| *m > 0) {
            let total = |ws: &[usize], hidden: bool| -> usize {
                let n = ws.len() + usize::from(hidden);
                ws.iter().sum::<usize>() + usize::from(hidden) + 3 * n + 1
            };
            // First cut long values (never a header below its own width, up
            // to a point), then hide columns from the right.
            let floors: Vec<usize> = columns
                .iter()
                .map(|c| {
                    let mut h = c.name.width();
                    if mode == Mode::Duckbox {
                        h = h.max(c.type_name.width());
                    }
                    h.clamp(MIN_COLUMN_WIDTH, 24)
                })
                .collect();
            while total(&widths, false) > max {
                let widest = widths
                    .iter()
                    .zip(&floors)
                    .enumerate()
                    .filter(|(_, (w, f))| w > f)
                    .max_by_key(|(_, (w, _))| **w)
                    .map(|(i, (w, f))| (i, *w, *f));
                let Some((i, w, floor)) = widest else { break };
                let excess = total(&widths, false) - max;
                widths[i] = w.saturating_sub(excess).max(floor);
            }
            while keep > 1 && total(&widths[..keep], keep < columns.len()) > max {
                keep -= 1;
            }
        }
        widths.truncate(keep);
        let hidden = columns.len() - keep;
        let mut grid = Grid {
            mode,
            columns: columns[..keep].iter().collect(),
            widths,
            rows,
            hidden_columns: hidden,
            total_columns: columns.len(),
            total_rows,
            shown_rows: shown,
            color: opts.color,
        };
        // Widen the last column so the footer fits, as far as allowed.
        if let Some((rows_text, cols_text)) = grid.footer() {
            let need =
                rows_text.width() + cols_text.width() + usize::from(!cols_text.is_empty()) * 3;
            let inner = grid.inner_width();
            if need > inner {
                let room = opts
                    .max_width
                    .filter(|m| *m > 0)
                    .map_or(usize::MAX, |m| m.saturating_sub(inner + 4));
                if let Some(last) = grid.widths.last_mut() {
                    *last += (need - inner).min(room);
                }
            }
        }
        grid
    }

    /// Width inside the outer border (all columns and separators).
    fn inner_width(&self) -> usize {
        let n = self.widths.len() + usize::from(self.hidden_columns > 0);
        self.widths.iter().sum::<usize>() + usize::from(self.hidden_columns > 0) + 3 * n - 3
    }

    /// Duckbox's footer: the row count (and how many are shown) and, when
    /// columns are hidden, the column count.
    fn footer(&self) -> Option<(String, String)> {
        let rows_cut = (self.shown_rows as u64) < self.total_rows;
        let hidden = self.hidden_columns > 0;
        if self.mode != Mode::Duckbox || !(rows_cut || hidden || self.total_rows == 0) {
            return None;
        }
        let rows_text = if rows_cut {
            format!(
                "{} rows ({} shown)",
                group(self.total_rows),
                self.shown_rows
            )
        } else if self.total_rows == 1 {
            "1 row".to_string()
        } else {
            format!("{} rows", group(self.total_rows))
        };
        let cols_text = if hidden {
            format!(
                "{} columns ({} shown)",
                self.total_columns,
                self.columns.len()
            )
        } else {
            String::new()
        };
        Some((rows_text, cols_text))
    }

    fn render(&self, out: &mut Vec<u8>) {
        let mut s = String::new();
        let hidden = self.hidden_columns > 0;
        let mut widths = self.widths.clone();
        if hidden {
            widths.push(1);
        }
        let (lines, vert) = match self.mode {
            Mode::Table => (BorderSet::ASCII, "|"),
            Mode::Markdown => (BorderSet::ASCII, "|"),
            _ => (BorderSet::BOX, "│"),
        };
        let numeric: Vec<bool> = self.columns.iter().map(|c| c.numeric).collect();
        let markdown = self.mode == Mode::Markdown;

        if !markdown {
            border(&mut s, &widths, lines.top);
        }
        // header
        let centred = matches!(self.mode, Mode::Duckbox | Mode::Box);
        let names: Vec<String> = self.columns.iter().map(|c| c.name.clone()).collect();
        row_line(&mut s, vert, &widths, &names, hidden, |i| {
            if centred {
                Align::Centre
            } else if markdown && numeric[i] {
                Align::Right
            } else {
                Align::Left
            }
        });
        if self.mode == Mode::Duckbox {
            let types: Vec<String> = self.columns.iter().map(|c| c.type_name.clone()).collect();
            row_line(&mut s, vert, &widths, &types, hidden, |_| Align::Centre);
        }
        if markdown {
            s.push('|');
            for (i, w) in widths.iter().enumerate() {
                if numeric.get(i).copied().unwrap_or(false) {
                    s.push_str(&"-".repeat(w + 1));
                    s.push_str(":|");
                } else {
                    s.push_str(&"-".repeat(w + 2));
                    s.push('|');
                }
            }
            s.push('\n');
        } else {
            border(&mut s, &widths, lines.mid);
        }
        for r in &self.rows {
            match r {
                Some(cells) => {
                    let mut texts = Vec::with_capacity(self.columns.len());
                    let mut nulls = Vec::with_capacity(self.columns.len());
                    for i in 0..self.columns.len() {
                        let c = cells.get(i).cloned().flatten();
                        nulls.push(c.is_none());
                        texts.push(c.unwrap_or_else(|| "NULL".to_string()));
                    }
                    self.cells_line(&mut s, vert, &widths, &texts, &nulls, hidden, &numeric);
                }
                None => {
                    for _ in 0..3 {
                        let dots: Vec<String> =
                            self.columns.iter().map(|_| "·".to_string()).collect();
                        let nulls = vec![false; dots.len()];
                        self.cells_line(&mut s, vert, &widths, &dots, &nulls, hidden, &numeric);
                    }
                }
            }
        }
        let rows_cut = (self.shown_rows as u64) < self.total_rows;
        if let Some((rows_text, cols_text)) = self.footer() {
            border(&mut s, &widths, lines.mid_plain);
            let inner = self.inner_width();
            let gap = inner
                .saturating_sub(rows_text.width() + cols_text.width())
                .max(1);
            let text = if cols_text.is_empty() {
                rows_text
            } else {
                format!("{rows_text}{}{cols_text}", " ".repeat(gap))
            };
            let text = truncate(&text, inner);
            let pad = inner.saturating_sub(text.width());
            let _ = writeln!(s, "{vert} {text}{} {vert}", " ".repeat(pad));
            border(&mut s, &widths, lines.bottom_plain);
        } else if !markdown {
            border(&mut s, &widths, lines.bottom);
        }
        if hidden && self.mode != Mode::Duckbox {
            let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
            let _ = writeln!(
                s,
                "({} of {} columns shown: {}, …)",
                self.columns.len(),
                self.total_columns,
                names.join(", ")
            );
        }
        if rows_cut && self.mode != Mode::Duckbox {
            let _ = writeln!(
                s,
                "({} rows, {} shown; .maxrows to change)",
                group(self.total_rows),
                self.shown_rows
            );
        }
        out.extend_from_slice(s.as_bytes());
    }

    #[allow(clippy::too_many_arguments)]
    fn cells_line(
        &self,
        s: &mut String,
        vert: &str,
        widths: &[usize],
        texts: &[String],
        nulls: &[bool],
        hidden: bool,
        numeric: &[bool],
    ) {
        s.push_str(vert);
        for (i, t) in texts.iter().enumerate() {
            let w = widths[i];
            let t = truncate(t, w);
            let pad = w.saturating_sub(t.width());
            let styled = if nulls[i] && self.color {
                null_text(true)
            } else {
                t
            };
            s.push(' ');
            if numeric[i] {
                s.push_str(&" ".repeat(pad));
                s.push_str(&styled);
            } else {
                s.push_str(&styled);
                s.push_str(&" ".repeat(pad));
            }
            s.push(' ');
            s.push_str(vert);
        }
        if hidden {
            s.push_str(" … ");
            s.push_str(vert);
        }
        s.push('\n');
    }
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Centre,
    Right,
}

fn row_line(
    s: &mut String,
    vert: &str,
    widths: &[usize],
    texts: &[String],
    hidden: bool,
    align: impl Fn(usize) -> Align,
) {
    s.push_str(vert);
    for (i, t) in texts.iter().enumerate() {
        let w = widths[i];
        let t = truncate(&grid_text(t), w);
        let pad = w.saturating_sub(t.width());
        let (l, r) = match align(i) {
            Align::Left => (0, pad),
            Align::Right => (pad, 0),
            Align::Centre => (pad / 2, pad - pad / 2),
        };
        let _ = write!(s, " {}{t}{} {vert}", " ".repeat(l), " ".repeat(r));
    }
    if hidden {
        let _ = write!(s, " … {vert}");
    }
    s.push('\n');
}

/// The characters of one border line: left, fill, junction, right.
#[derive(Clone, Copy)]
struct BorderLine(&'static str, &'static str, &'static str, &'static str);

struct BorderSet {
    top: BorderLine,
    mid: BorderLine,
    bottom: BorderLine,
    /// Above the footer: no junctions below it.
    mid_plain: BorderLine,
    bottom_plain: BorderLine,
}

impl BorderSet {
    const BOX: BorderSet = BorderSet {
        top: BorderLine("┌", "─", "┬", "┐"),
        mid: BorderLine("├", "─", "┼", "┤"),
        bottom: BorderLine("└", "─", "┴", "┘"),
        mid_plain: BorderLine("├", "─", "┴", "┤"),
        bottom_plain: BorderLine("└", "─", "─", "┘"),
    };
    const ASCII: BorderSet = BorderSet {
        top: BorderLine("+", "-", "+", "+"),
        mid: BorderLine("+", "-", "+", "+"),
        bottom: BorderLine("+", "-", "+", "+"),
        mid_plain: BorderLine("+", "-", "-", "+"),
        bottom_plain: BorderLine("+", "-", "-", "+"),
    };
}

fn border(s: &mut String, widths: &[usize], line: BorderLine) {
    s.push_str(line.0);
    for (i, w) in widths.iter().enumerate() {
        if i > 0 {
            s.push_str(line.2);
        }
        s.push_str(&line.1.repeat(w + 2));
    }
    s.push_str(line.3);
    s.push('\n');
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    // the first group has 1 to 3 digits, the others 3
    let lead = (digits.len() + 2) % 3 + 1;
    let mut out = digits[..lead].to_string();
    for chunk in digits.as_bytes()[lead..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use warehouse::duckdb::arrow::array::{Float64Array, Int32Array, StringArray};
    use warehouse::duckdb::arrow::datatypes::{Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int32Array::from(vec![Some(1), Some(20), None])),
                Arc::new(StringArray::from(vec![
                    Some("a,b"),
                    None,
                    Some("say \"hi\"\nbye"),
                ])),
                Arc::new(Float64Array::from(vec![Some(1.5), Some(3.0), Some(1e20)])),
            ],
        )
        .expect("batch")
    }

    fn columns() -> Vec<Column> {
        let b = batch();
        b.schema()
            .fields()
            .iter()
            .map(|f| Column::from_arrow(f.name(), f.data_type()))
            .collect()
    }

    fn render(mode: Mode, opts: RenderOptions) -> String {
        let mut out = Vec::new();
        let mut w = ResultWriter::new(&mut out, mode, columns(), opts);
        w.push_batch(&batch()).expect("push");
        w.finish().expect("finish");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn csv_quotes_and_nulls() {
        assert_eq!(
            render(Mode::Csv, RenderOptions::default()),
            "id,name,score\n1,\"a,b\",1.5\n20,,3.0\n,\"say \"\"hi\"\"\nbye\",1e+20\n"
        );
    }

    #[test]
    fn json_types() {
        assert_eq!(
            render(Mode::Jsonl, RenderOptions::default()),
            "{\"id\":1,\"name\":\"a,b\",\"score\":1.5}\n{\"id\":20,\"name\":null,\"score\":3.0}\n{\"id\":null,\"name\":\"say \\\"hi\\\"\\nbye\",\"score\":1e+20}\n"
        );
        let j = render(Mode::Json, RenderOptions::default());
        assert!(j.starts_with("[{\"id\":1") && j.ends_with("}]\n"), "{j}");
    }

    #[test]
    fn duckbox_aligns_numbers_and_shows_null() {
        let s = render(Mode::Duckbox, RenderOptions::default());
        let expected = "\
┌───────┬───────────────┬────────┐
│  id   │     name      │ score  │
│ int32 │    varchar    │ double │
├───────┼───────────────┼────────┤
│     1 │ a,b           │    1.5 │
│    20 │ NULL          │    3.0 │
│  NULL │ say \"hi\"\\nbye │  1e+20 │
└───────┴───────────────┴────────┘
";
        assert_eq!(s, expected);
    }

    #[test]
    fn max_rows_elides_the_middle() {
        let mut out = Vec::new();
        let cols = vec![Column::from_arrow("n", &DataType::Int64)];
        let mut w = ResultWriter::new(
            &mut out,
            Mode::Duckbox,
            cols,
            RenderOptions {
                max_rows: Some(4),
                ..Default::default()
            },
        );
        for i in 0..100 {
            w.push_row(vec![Some(i.to_string())]).expect("row");
        }
        assert_eq!(w.finish().expect("finish"), 100);
        let s = String::from_utf8(out).expect("utf8");
        let cells: Vec<&str> = s
            .lines()
            .filter(|l| l.starts_with('│'))
            .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
            .collect();
        assert_eq!(
            cells,
            vec![
                "n",
                "int64",
                "0",
                "1",
                "·",
                "·",
                "·",
                "98",
                "99",
                "100 rows (4 shown)"
            ],
            "{s}"
        );
    }

    #[test]
    fn max_width_hides_columns_with_a_note() {
        let cols: Vec<Column> = (0..10)
            .map(|i| Column::text(&format!("column_{i}")))
            .collect();
        let mut out = Vec::new();
        let mut w = ResultWriter::new(
            &mut out,
            Mode::Duckbox,
            cols,
            RenderOptions {
                max_width: Some(50),
                ..Default::default()
            },
        );
        w.push_row((0..10).map(|i| Some(format!("value number {i}"))).collect())
            .expect("row");
        w.finish().expect("finish");
        let s = String::from_utf8(out).expect("utf8");
        for line in s.lines() {
            assert!(line.width() <= 50, "{line:?} is wider than 50\n{s}");
        }
        assert!(s.contains("10 columns ("), "{s}");
        assert!(s.contains(" … "), "{s}");
    }

    #[test]
    fn table_markdown_and_line() {
        let cols = vec![Column::from_arrow("n", &DataType::Int64), Column::text("s")];
        let run = |mode| {
            let mut out = Vec::new();
            let mut w = ResultWriter::new(&mut out, mode, cols.clone(), RenderOptions::default());
            w.push_row(vec![Some("1".into()), Some("a|b".into())])
                .expect("row");
            w.push_row(vec![None, Some("c".into())]).expect("row");
            w.finish().expect("finish");
            String::from_utf8(out).expect("utf8")
        };
        assert_eq!(run(Mode::Table), "+------+-----+\n| n    | s   |\n+------+-----+\n|    1 | a|b |\n| NULL | c   |\n+------+-----+\n");
        assert_eq!(
            run(Mode::Markdown),
            "|    n | s    |\n|-----:|------|\n|    1 | a\\|b |\n| NULL | c    |\n"
        );
        assert_eq!(run(Mode::Line), "n = 1\ns = a|b\n\nn = NULL\ns = c\n");
        assert_eq!(
            run(Mode::Json),
            "[{\"n\":1,\"s\":\"a|b\"},\n{\"n\":null,\"s\":\"c\"}]\n"
        );
    }

    #[test]
    fn floats_and_timestamps_as_duckdb_prints_them() {
        let f = |v: f64| {
            let mut s = String::new();
            format_float(v, false, &mut s);
            s
        };
        assert_eq!(f(3.0), "3.0");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(-2.5), "-2.5");
        assert_eq!(f(1e20), "1e+20");
        assert_eq!(f(1.5e-7), "1.5e-07");
        assert_eq!(f(0.0), "0.0");
        let t = |v: i64, per: i64, tz: bool| {
            let mut s = String::new();
            format_timestamp(v, per, tz, &mut s);
            s
        };
        assert_eq!(
            t(1_723_456_800_000_000, 1_000_000, false),
            "2024-08-12 10:00:00"
        );
        assert_eq!(
            t(1_723_456_800_500_000, 1_000_000, true),
            "2024-08-12 10:00:00.5+00"
        );
        assert_eq!(t(-1, 1, false), "1969-12-31 23:59:59");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_947), (2024, 8, 12));
    }

    #[test]
    fn modes_parse_and_group_digits() {
        for m in Mode::ALL {
            assert_eq!(m.name().parse::<Mode>(), Ok(m));
        }
        assert!("nope".parse::<Mode>().is_err());
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(12), "12");
        assert_eq!(group(0), "0");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(123_456), "123,456");
    }
}
