//! Python literal reprs to JSON.
//!
//! The old Python pipeline stored nested fields as what `str(dict)` prints, e.g.
//! `{'airport': {'icao': 'SKCL', 'name': "Cote d'Ivoire"}, 'quality': ['Basic', 'Live'], 'x': None}`.
//! This crate reads that text with a recursive-descent parser for the literal subset that
//! Python's `ast.literal_eval` accepts and `repr()` produces, and writes JSON.
//!
//! * [`to_json`] is the core and the fast path: it appends compact JSON text to a `String`
//!   without building a tree, keeping dict key order.
//! * [`parse`] returns a [`serde_json::Value`] (it runs [`to_json`], then serde_json on the
//!   result). Key order is kept: this crate enables serde_json's `preserve_order` feature.
//!
//! # Mapping
//!
//! | Python | JSON |
//! | --- | --- |
//! | `dict` | object, keys in source order |
//! | `list`, `tuple`, `set`, `set()` | array (sets in source order, not de-duplicated) |
//! | `str` (any quoting, `r`/`u` prefixes, adjacent literals concatenated) | string |
//! | `int` (decimal, `0x`, `0o`, `0b`, underscores) | number, decimal digits |
//! | `float` (`1.5`, `.5`, `1.`, `1e5`, underscores) | number |
//! | `True` / `False` / `None` | `true` / `false` / `null` |
//! | `inf`, `-inf`, `nan` (what `repr(float('inf'))` prints), floats that overflow like `1e999` | `null` |
//!
//! Choices where JSON and Python differ:
//!
//! * **Big integers.** [`to_json`] writes every integer exactly, as decimal digits of any
//!   length (valid JSON). [`parse`] cannot hold integers outside `i64`/`u64` in a `Value`
//!   (serde_json's `arbitrary_precision` is off), so they become the nearest `f64`; one too
//!   large even for `f64` (about 1.8e308) is an [`ErrorKind::NumberOutOfRange`] error there.
//! * **`inf`/`nan`** become `null` (JSON has no such numbers); so does a float literal that
//!   overflows to infinity. `-0.0` stays `-0.0`; the integer `-0` is `0`. Other floats keep
//!   their digits (`1e5` is written `1.0e5`, `.5` is `0.5`).
//! * **Non-string dict keys** become strings the way Python's `json.dumps` makes them: ints in
//!   decimal, floats as their repr (`1e+16`, `0.5`, `Infinity`, `NaN`), `True`/`False`/`None`
//!   as `true`/`false`/`null`; tuples (which `json.dumps` refuses) as their JSON text:
//!   `{1: 'a', None: 'b', (1, 2): 'c'}` → `{"1":"a","null":"b","[1,2]":"c"}`. Unhashable keys
//!   (lists, dicts, sets) are an error, as in Python (checked one level deep: a tuple holding
//!   a list is let through).
//! * **Sets** keep the order of the source text (a set's repr lists it in hash order, and the
//!   text is all there is) and are not de-duplicated.
//! * **Duplicate keys** are written as they come by [`to_json`]; [`parse`] keeps the last value
//!   at the first key's position, which is what Python's dict does. (Python also merges keys
//!   that are equal across types, like `1` and `True`; this crate does not.)
//! * **Lone surrogates** (`'\ud800'`, legal in a Python `str`, impossible in UTF-8) become
//!   U+FFFD; a `\uD8xx\uDCxx` escape pair becomes the one character it encodes.
//! * `\N{NAME}` escapes, bytes literals, f-strings, complex numbers, `...` and calls other than
//!   `set()` are errors ([`ErrorKind::Unsupported`] or [`ErrorKind::UnknownName`]), and so is a
//!   sign before anything but a number (`-True` is legal Python; nobody's repr prints it).
//! * The parser is a little more lenient than Python: newlines may appear between tokens at
//!   the top level too (Python allows them only inside brackets). `#` comments and
//!   backslash-newline continuations are skipped like whitespace, as in Python.
//! * Nesting is limited to [`MAX_DEPTH`] brackets, CPython's own parser limit.
//!
//! Strings are written with JSON escapes for `"`, `\` and control characters only; all other
//! text, non-ASCII included, is copied as UTF-8.
//!
//! # Errors
//!
//! [`Error`] gives the byte offset, the 1-based line and column (in characters) and an
//! [`ErrorKind`]; it displays as e.g.
//! `unterminated string starting at offset 17 (line 1, column 18)`. Trailing text after the
//! value is an error. On error, `to_json` leaves `out` as it was before the call.

use std::fmt::{self, Write as _};

use serde::Deserialize as _;
use serde_json::Value;

/// Deepest bracket nesting accepted; CPython's parser refuses more, too.
pub const MAX_DEPTH: usize = 200;

/// A literal that could not be read: what went wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Byte offset into the source of the problem (for unterminated strings and unclosed
    /// brackets: of their start).
    pub offset: usize,
    /// 1-based line of `offset`.
    pub line: usize,
    /// 1-based column of `offset`, counted in characters.
    pub column: usize,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = match self.kind {
            ErrorKind::UnterminatedString => "starting at",
            _ => "at",
        };
        write!(
            f,
            "{} {at} offset {} (line {}, column {})",
            self.kind, self.offset, self.line, self.column
        )
    }
}

/// What went wrong; see [`Error`] for where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended where something else was required.
    #[error("unexpected end of input, expected {expected}")]
    UnexpectedEnd { expected: &'static str },
    /// A character that cannot start or continue anything here.
    #[error("unexpected {found:?}, expected {expected}")]
    UnexpectedChar { found: char, expected: &'static str },
    /// A string literal without its closing quote (or a newline in a one-line string).
    #[error("unterminated string")]
    UnterminatedString,
    /// A bracket that is never closed.
    #[error("unclosed {0:?}")]
    Unclosed(char),
    /// A malformed backslash escape in a string.
    #[error("invalid escape: {0}")]
    InvalidEscape(&'static str),
    /// A malformed number.
    #[error("invalid number: {0}")]
    InvalidNumber(&'static str),
    /// An integer too large for `f64` ([`parse`] only; [`to_json`] writes it exactly).
    #[error("integer too large for a JSON number")]
    NumberOutOfRange,
    /// Valid Python that has no JSON form or that `repr()` never prints.
    #[error("{0} are not supported")]
    Unsupported(&'static str),
    /// A name other than `True`, `False`, `None`, `inf`, `nan` and `set()`.
    #[error("unknown name {0:?} (only True, False, None, inf, nan and set() are literals)")]
    UnknownName(String),
    /// A list, dict or set used as a dict key or set element.
    #[error("unhashable {0} used as a dict key or set element")]
    Unhashable(&'static str),
    /// More than [`MAX_DEPTH`] nested brackets.
    #[error("more than {MAX_DEPTH} nested brackets")]
    TooDeep,
    /// Something after the complete value.
    #[error("trailing characters after the value")]
    TrailingCharacters,
    /// serde_json refused the converted text (a bug in this crate if it ever happens).
    #[error("internal error, converted JSON was not readable: {0}")]
    Internal(String),
}

impl Error {
    fn new(src: &str, kind: ErrorKind, offset: usize) -> Self {
        let mut offset = offset.min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &src[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Error {
            kind,
            offset,
            line: before.bytes().filter(|&c| c == b'\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// Converts a Python literal to compact JSON text appended to `out`, keeping dict key order.
///
/// This is the fast path: no tree is built and strings are copied in runs. Integers are
/// written exactly, whatever their size. On error `out` is left as it was.
///
/// ```
/// let mut out = String::new();
/// pyliteral::to_json(r#"{'name': "Cote d'Ivoire", 'iata': None, 'quality': ['Basic', 'Live']}"#, &mut out)?;
/// assert_eq!(out, r#"{"name":"Cote d'Ivoire","iata":null,"quality":["Basic","Live"]}"#);
///
/// let err = pyliteral::to_json("{'a': 1, 'b': 'oops}", &mut out).unwrap_err();
/// assert_eq!(err.to_string(), "unterminated string starting at offset 14 (line 1, column 15)");
/// # Ok::<(), pyliteral::Error>(())
/// ```
pub fn to_json(src: &str, out: &mut String) -> Result<(), Error> {
    convert(src, out, false)
}

/// Parses a Python literal into a [`serde_json::Value`], keeping dict key order.
///
/// Integers outside `i64`/`u64` become the nearest `f64` (see the crate docs).
///
/// ```
/// let v = pyliteral::parse("{'scheduledTime': {'utc': '2024-08-12 17:00Z'}, 'isCargo': False}")?;
/// assert_eq!(v["scheduledTime"]["utc"], "2024-08-12 17:00Z");
/// assert_eq!(v["isCargo"], false);
/// # Ok::<(), pyliteral::Error>(())
/// ```
pub fn parse(src: &str) -> Result<Value, Error> {
    let mut json = String::with_capacity(src.len() + 16);
    convert(src, &mut json, true)?;
    let mut de = serde_json::Deserializer::from_str(&json);
    de.disable_recursion_limit();
    Value::deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| Error::new(src, ErrorKind::Internal(e.to_string()), 0))
}

fn convert(src: &str, out: &mut String, lossy: bool) -> Result<(), Error> {
    let base = out.len();
    // JSON is about as long as the literal; one reservation saves regrowing on the way.
    out.reserve(src.len() + 8);
    let mut p = Parser {
        s: src,
        b: src.as_bytes(),
        pos: 0,
        depth: 0,
        out,
        lossy,
    };
    match p.document() {
        Ok(()) => Ok(()),
        Err(fail) => {
            out.truncate(base);
            Err(Error::new(src, fail.kind, fail.offset))
        }
    }
}

/// Internal error: located by offset only; line and column are worked out at the end.
struct Fail {
    kind: ErrorKind,
    offset: usize,
}

/// Boxed so that the hot path's `Result`s stay one word wide.
type R<T> = Result<T, Box<Fail>>;

fn fail<T>(kind: ErrorKind, offset: usize) -> R<T> {
    Err(Box::new(Fail { kind, offset }))
}

/// What a value was, for dict keys and set elements.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Str,
    /// An int, True, False or None.
    Scalar,
    /// A float, with its value (it may be inf or nan, written as null).
    Float(f64),
    List,
    Tuple,
    Dict,
    Set,
}

const RAW: u8 = 1;
const BYTES: u8 = 2;
const FSTRING: u8 = 4;

/// Bytes that end a run of plain string content: both quotes, backslash, control characters.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'\'' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

struct Parser<'a, 'o> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
    out: &'o mut String,
    /// `parse` mode: integers beyond f64's range, which serde_json refuses, are an error.
    lossy: bool,
}

impl Parser<'_, '_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn document(&mut self) -> R<()> {
        self.skip_ws();
        if self.pos == self.b.len() {
            return fail(
                ErrorKind::UnexpectedEnd {
                    expected: "a value",
                },
                self.pos,
            );
        }
        let start = self.out.len();
        self.value()?;
        self.skip_ws();
        if self.peek() == Some(b',') {
            // A bare tuple, `1, 2`, which literal_eval accepts at the top level.
            self.out.insert(start, '[');
            while self.peek() == Some(b',') {
                self.pos += 1;
                self.skip_ws();
                if self.pos == self.b.len() {
                    break;
                }
                self.out.push(',');
                self.value()?;
                self.skip_ws();
            }
            self.out.push(']');
        }
        if self.pos != self.b.len() {
            return fail(ErrorKind::TrailingCharacters, self.pos);
        }
        Ok(())
    }

    /// Skips whitespace, `#` comments and backslash-newline continuations.
    #[inline]
    fn skip_ws(&mut self) {
        let b = self.b;
        let mut i = self.pos;
        while let Some(&c) = b.get(i) {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0c => i += 1,
                b'#' => {
                    while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                        i += 1;
                    }
                }
                b'\\' if matches!(b.get(i + 1), Some(b'\n' | b'\r')) => i += 2,
                _ => break,
            }
        }
        self.pos = i;
    }

    fn unexpected<T>(&self, expected: &'static str) -> R<T> {
        match self.s[self.pos..].chars().next() {
            Some(found) => fail(ErrorKind::UnexpectedChar { found, expected }, self.pos),
            None => fail(ErrorKind::UnexpectedEnd { expected }, self.pos),
        }
    }

    fn enter(&mut self, open: usize) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return fail(ErrorKind::TooDeep, open);
        }
        Ok(())
    }

    fn value(&mut self) -> R<Kind> {
        let Some(c) = self.peek() else {
            return fail(
                ErrorKind::UnexpectedEnd {
                    expected: "a value",
                },
                self.pos,
            );
        };
        match c {
            b'\'' | b'"' => {
                self.string(0, 0)?;
                Ok(Kind::Str)
            }
            b'{' => self.brace(),
            b'[' => self.list(),
            b'(' => self.paren(),
            b'0'..=b'9' => self.number(false),
            b'.' if matches!(self.b.get(self.pos + 1), Some(b'0'..=b'9')) => self.number(false),
            b'-' | b'+' => self.signed(),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | 0x80.. => self.name(),
            _ => self.unexpected("a value"),
        }
    }

    // ---------------------------------------------------------------- containers

    fn list(&mut self) -> R<Kind> {
        let open = self.pos;
        self.enter(open)?;
        self.pos += 1;
        self.out.push('[');
        self.elements(b']', false, false, open)?;
        self.depth -= 1;
        Ok(Kind::List)
    }

    /// `(...)`: the empty tuple, a parenthesized value, or a tuple.
    fn paren(&mut self) -> R<Kind> {
        let open = self.pos;
        self.enter(open)?;
        self.pos += 1;
        let mark = self.out.len();
        self.out.push('[');
        self.skip_ws();
        match self.peek() {
            Some(b')') => {
                self.pos += 1;
                self.out.push(']');
                self.depth -= 1;
                return Ok(Kind::Tuple);
            }
            None => return fail(ErrorKind::Unclosed('('), open),
            _ => {}
        }
        let kind = self.value()?;
        self.skip_ws();
        match self.peek() {
            Some(b')') => {
                // Just parentheses around a value.
                self.pos += 1;
                self.out.remove(mark);
                self.depth -= 1;
                Ok(kind)
            }
            Some(b',') => {
                self.elements(b')', true, false, open)?;
                self.depth -= 1;
                Ok(Kind::Tuple)
            }
            None => fail(ErrorKind::Unclosed('('), open),
            _ => self.unexpected("',' or ')'"),
        }
    }

    /// The rest of a list, tuple or set after its opening bracket (and, if `have_one`, after
    /// its first element): elements separated by commas, an optional trailing comma, `close`.
    /// Writes the elements and the closing `]`.
    fn elements(&mut self, close: u8, mut have_one: bool, set: bool, open: usize) -> R<()> {
        let expected = match close {
            b']' => "',' or ']'",
            b')' => "',' or ')'",
            _ => "',' or '}'",
        };
        loop {
            self.skip_ws();
            if have_one {
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                    }
                    Some(c) if c == close => {
                        self.pos += 1;
                        break;
                    }
                    None => return fail(ErrorKind::Unclosed(self.b[open] as char), open),
                    _ => return self.unexpected(expected),
                }
            }
            match self.peek() {
                Some(c) if c == close => {
                    self.pos += 1;
                    break;
                }
                None => return fail(ErrorKind::Unclosed(self.b[open] as char), open),
                _ => {}
            }
            if have_one {
                self.out.push(',');
            }
            let at = self.pos;
            let kind = self.value()?;
            if set {
                check_hashable(kind, at)?;
            }
            have_one = true;
        }
        self.out.push(']');
        Ok(())
    }

    /// `{...}`: a dict, or a set.
    fn brace(&mut self) -> R<Kind> {
        let open = self.pos;
        self.enter(open)?;
        self.pos += 1;
        let mark = self.out.len();
        self.out.push('{');
        self.skip_ws();
        match self.peek() {
            Some(b'}') => {
                self.pos += 1;
                self.out.push('}');
                self.depth -= 1;
                return Ok(Kind::Dict);
            }
            None => return fail(ErrorKind::Unclosed('{'), open),
            _ => {}
        }
        let key_out = self.out.len();
        let key_at = self.pos;
        let kind = self.value()?;
        self.skip_ws();
        match self.peek() {
            Some(b':' | b',' | b'}') => {}
            None => return fail(ErrorKind::Unclosed('{'), open),
            _ => return self.unexpected("':', ',' or '}'"),
        }
        if self.peek() != Some(b':') {
            // A set: its first element is written already.
            check_hashable(kind, key_at)?;
            self.out.replace_range(mark..mark + 1, "[");
            self.elements(b'}', true, true, open)?;
            self.depth -= 1;
            return Ok(Kind::Set);
        }
        self.key(kind, key_out, key_at)?;
        self.dict_value(open)?;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                None => return fail(ErrorKind::Unclosed('{'), open),
                _ => return self.unexpected("',' or '}'"),
            }
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                None => return fail(ErrorKind::Unclosed('{'), open),
                _ => {}
            }
            self.out.push(',');
            let key_out = self.out.len();
            let key_at = self.pos;
            let kind = self.value()?;
            self.skip_ws();
            match self.peek() {
                Some(b':') => {}
                None => return fail(ErrorKind::Unclosed('{'), open),
                _ => return self.unexpected("':'"),
            }
            self.key(kind, key_out, key_at)?;
            self.dict_value(open)?;
        }
        self.out.push('}');
        self.depth -= 1;
        Ok(Kind::Dict)
    }

    /// At the `:` after a key: writes it and the value.
    #[inline]
    fn dict_value(&mut self, open: usize) -> R<()> {
        self.pos += 1;
        self.out.push(':');
        self.skip_ws();
        if self.pos == self.b.len() {
            return fail(ErrorKind::Unclosed('{'), open);
        }
        self.value()?;
        Ok(())
    }

    /// Turns the key just written at `out[key_out..]` into a JSON object key.
    #[inline]
    fn key(&mut self, kind: Kind, key_out: usize, key_at: usize) -> R<()> {
        match kind {
            Kind::Str => Ok(()),
            Kind::Float(v) => {
                // What Python's json.dumps makes of a float key: its repr.
                self.out.truncate(key_out);
                self.out.push('"');
                push_python_float(self.out, v);
                self.out.push('"');
                Ok(())
            }
            Kind::Scalar | Kind::Tuple => {
                let text = self.out.split_off(key_out);
                self.out.push('"');
                push_escaped(self.out, &text);
                self.out.push('"');
                Ok(())
            }
            _ => check_hashable(kind, key_at),
        }
    }

    // ---------------------------------------------------------------- names

    fn name(&mut self) -> R<Kind> {
        let start = self.pos;
        if let Some((prefix, flags)) = string_start(self.b, start) {
            self.string(prefix, flags)?;
            return Ok(Kind::Str);
        }
        let mut i = start;
        while i < self.b.len() && is_ident_byte(self.b[i]) {
            i += 1;
        }
        self.pos = i;
        let s = self.s;
        match &s[start..i] {
            "True" => self.out.push_str("true"),
            "False" => self.out.push_str("false"),
            "None" => self.out.push_str("null"),
            "inf" | "nan" => {
                self.out.push_str("null");
                return Ok(Kind::Float(if s.as_bytes()[start] == b'i' {
                    f64::INFINITY
                } else {
                    f64::NAN
                }));
            }
            "set" => {
                self.skip_ws();
                if self.peek() == Some(b'(') {
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b')') {
                        self.pos += 1;
                        self.out.push_str("[]");
                        return Ok(Kind::Set);
                    }
                }
                return fail(ErrorKind::Unsupported("calls other than set()"), start);
            }
            other => return fail(ErrorKind::UnknownName(other.to_owned()), start),
        }
        Ok(Kind::Scalar)
    }

    // ---------------------------------------------------------------- strings

    /// One or more adjacent string literals, written as one JSON string; the first one's
    /// prefix length and flags are given.
    #[inline]
    fn string(&mut self, mut prefix: usize, mut flags: u8) -> R<()> {
        self.out.push('"');
        loop {
            if flags & BYTES != 0 {
                return fail(ErrorKind::Unsupported("bytes literals"), self.pos);
            }
            if flags & FSTRING != 0 {
                return fail(ErrorKind::Unsupported("f-strings"), self.pos);
            }
            self.pos += prefix;
            self.segment(flags & RAW != 0)?;
            // Usually a delimiter follows; only otherwise look for an adjacent literal.
            if matches!(self.peek(), None | Some(b',' | b':' | b']' | b'}' | b')')) {
                break;
            }
            self.skip_ws();
            match string_start(self.b, self.pos) {
                Some(next) => (prefix, flags) = next,
                None => break,
            }
        }
        self.out.push('"');
        Ok(())
    }

    /// One string literal at its opening quote; writes its content, JSON-escaped.
    fn segment(&mut self, raw: bool) -> R<()> {
        let b = self.b;
        let start = self.pos;
        let q = b[start];
        let triple = b.get(start + 1) == Some(&q) && b.get(start + 2) == Some(&q);
        let mut i = start + if triple { 3 } else { 1 };
        loop {
            let run = i;
            match b[i..].iter().position(|&c| SPECIAL[c as usize]) {
                Some(n) => i += n,
                None => return fail(ErrorKind::UnterminatedString, start),
            }
            self.out.push_str(&self.s[run..i]);
            let c = b[i];
            if c == q {
                if !triple {
                    self.pos = i + 1;
                    return Ok(());
                }
                if b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q) {
                    self.pos = i + 3;
                    return Ok(());
                }
                self.out.push_str(if q == b'"' { "\\\"" } else { "'" });
                i += 1;
                continue;
            }
            match c {
                b'"' => {
                    self.out.push_str("\\\"");
                    i += 1;
                }
                b'\'' => {
                    self.out.push('\'');
                    i += 1;
                }
                b'\\' if raw => i = self.raw_backslash(i, q, start)?,
                b'\\' => i = self.escape(i, start)?,
                b'\n' | b'\r' => {
                    if !triple {
                        return fail(ErrorKind::UnterminatedString, start);
                    }
                    // Python reads source newlines (\r\n, \r) as \n.
                    self.out.push_str("\\n");
                    i += 1;
                    if c == b'\r' && b.get(i) == Some(&b'\n') {
                        i += 1;
                    }
                }
                _ => {
                    push_control(self.out, c);
                    i += 1;
                }
            }
        }
    }

    /// A backslash in a raw string: kept, and it keeps the next quote, backslash or newline
    /// from ending anything. Returns where to go on.
    fn raw_backslash(&mut self, i: usize, q: u8, start: usize) -> R<usize> {
        let b = self.b;
        let Some(&next) = b.get(i + 1) else {
            return fail(ErrorKind::UnterminatedString, start);
        };
        self.out.push_str("\\\\");
        Ok(match next {
            b'\\' => {
                self.out.push_str("\\\\");
                i + 2
            }
            _ if next == q => {
                self.out.push_str(if q == b'"' { "\\\"" } else { "'" });
                i + 2
            }
            b'\n' => {
                self.out.push_str("\\n");
                i + 2
            }
            b'\r' => {
                self.out.push_str("\\n");
                if b.get(i + 2) == Some(&b'\n') {
                    i + 3
                } else {
                    i + 2
                }
            }
            _ => i + 1,
        })
    }

    /// A backslash escape in a normal string at `i`; returns where to go on.
    fn escape(&mut self, i: usize, start: usize) -> R<usize> {
        let b = self.b;
        let Some(&c) = b.get(i + 1) else {
            return fail(ErrorKind::UnterminatedString, start);
        };
        let text = match c {
            b'\n' => return Ok(i + 2),
            b'\r' => {
                return Ok(if b.get(i + 2) == Some(&b'\n') {
                    i + 3
                } else {
                    i + 2
                })
            }
            b'\\' => "\\\\",
            b'\'' => "'",
            b'"' => "\\\"",
            b'a' => "\\u0007",
            b'b' => "\\b",
            b'f' => "\\f",
            b'n' => "\\n",
            b'r' => "\\r",
            b't' => "\\t",
            b'v' => "\\u000b",
            b'0'..=b'7' => {
                let mut j = i + 1;
                let mut v = 0u32;
                while j < i + 4 && matches!(b.get(j), Some(b'0'..=b'7')) {
                    v = v * 8 + u32::from(b[j] - b'0');
                    j += 1;
                }
                push_char(self.out, char::from_u32(v).unwrap_or('\u{fffd}'));
                return Ok(j);
            }
            b'x' => {
                let v = hex_digits(b, i + 2, 2)
                    .ok_or_else(|| bad_escape("truncated \\xXX escape", i))?;
                push_char(self.out, char::from_u32(v).unwrap_or('\u{fffd}'));
                return Ok(i + 4);
            }
            b'u' | b'U' => {
                let n = if c == b'u' { 4 } else { 8 };
                let Some(v) = hex_digits(b, i + 2, n) else {
                    return Err(bad_escape(
                        if n == 4 {
                            "truncated \\uXXXX escape"
                        } else {
                            "truncated \\UXXXXXXXX escape"
                        },
                        i,
                    ));
                };
                let mut end = i + 2 + n;
                let ch = match v {
                    0xD800..=0xDBFF => match low_surrogate(b, end) {
                        Some((low, len)) => {
                            end += len;
                            char::from_u32(0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00))
                        }
                        None => None,
                    },
                    0..=0x10FFFF => char::from_u32(v),
                    _ => return Err(bad_escape("illegal Unicode character", i)),
                };
                push_char(self.out, ch.unwrap_or('\u{fffd}'));
                return Ok(end);
            }
            b'N' => return fail(ErrorKind::Unsupported("\\N{...} escapes"), i),
            // An unknown escape keeps its backslash; the next character is read as usual.
            _ => {
                self.out.push_str("\\\\");
                return Ok(i + 1);
            }
        };
        self.out.push_str(text);
        Ok(i + 2)
    }

    // ---------------------------------------------------------------- numbers

    /// `-` or `+`, optional whitespace, then a number or inf/nan.
    fn signed(&mut self) -> R<Kind> {
        let sign_at = self.pos;
        let neg = self.b[sign_at] == b'-';
        self.pos += 1;
        self.skip_ws();
        match self.peek() {
            Some(b'0'..=b'9') => self.number(neg),
            Some(b'.') if matches!(self.b.get(self.pos + 1), Some(b'0'..=b'9')) => self.number(neg),
            Some(b'i' | b'n') => {
                let rest = &self.b[self.pos..];
                for (name, v) in [(&b"inf"[..], f64::INFINITY), (b"nan", f64::NAN)] {
                    if rest.starts_with(name) && !rest.get(3).is_some_and(|&c| is_ident_byte(c)) {
                        self.pos += 3;
                        self.out.push_str("null");
                        return Ok(Kind::Float(if neg { -v } else { v }));
                    }
                }
                self.unexpected("a number after the sign")
            }
            _ => self.unexpected("a number after the sign"),
        }
    }

    /// A number at `pos` (after any sign).
    #[inline]
    fn number(&mut self, neg: bool) -> R<Kind> {
        let b = self.b;
        let start = self.pos;
        if b[start] == b'0'
            && matches!(
                b.get(start + 1),
                Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')
            )
        {
            return self.radix_int(neg);
        }
        let mut i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        match b.get(i) {
            Some(b'_' | b'.' | b'e' | b'E' | b'j' | b'J') => self.decimal(neg),
            Some(&c) if is_ident_byte(c) => {
                fail(ErrorKind::InvalidNumber("invalid decimal literal"), start)
            }
            _ => {
                // The common case: plain digits.
                self.pos = i;
                let digits = &self.s[start..i];
                if digits.as_bytes()[0] == b'0' {
                    if digits.bytes().any(|c| c != b'0') {
                        return fail(
                            ErrorKind::InvalidNumber("leading zeros in a decimal integer"),
                            start,
                        );
                    }
                    self.out.push('0');
                    return Ok(Kind::Scalar);
                }
                self.push_int(neg, digits, start)
            }
        }
    }

    /// A decimal number with underscores, a fraction or an exponent.
    fn decimal(&mut self, neg: bool) -> R<Kind> {
        let b = self.b;
        let start = self.pos;
        let mut int = String::new();
        let mut i = self.digits(start, &mut int, 10)?;
        let mut frac = None;
        let mut exp = None;
        if b.get(i) == Some(&b'.') {
            let mut f = String::new();
            i = self.digits(i + 1, &mut f, 10)?;
            frac = Some(f);
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            let mut e = String::new();
            let mut j = i + 1;
            if let Some(&s @ (b'+' | b'-')) = b.get(j) {
                e.push(s as char);
                j += 1;
            }
            let k = self.digits(j, &mut e, 10)?;
            if k == j {
                return fail(ErrorKind::InvalidNumber("invalid decimal literal"), start);
            }
            i = k;
            exp = Some(e);
        }
        match b.get(i) {
            Some(b'j' | b'J') => return fail(ErrorKind::Unsupported("complex numbers"), start),
            Some(&c) if is_ident_byte(c) || c == b'.' => {
                return fail(ErrorKind::InvalidNumber("invalid decimal literal"), start)
            }
            _ => {}
        }
        self.pos = i;
        let int_digits = int.trim_start_matches('0');
        if frac.is_none() && exp.is_none() {
            if int_digits.is_empty() {
                if int.is_empty() {
                    return fail(ErrorKind::InvalidNumber("invalid decimal literal"), start);
                }
                self.out.push('0');
                return Ok(Kind::Scalar);
            }
            if int_digits.len() != int.len() {
                return fail(
                    ErrorKind::InvalidNumber("leading zeros in a decimal integer"),
                    start,
                );
            }
            return self.push_int(neg, &int, start);
        }
        // A float: JSON wants digits on both sides of the point and no leading zeros.
        let mut text = String::with_capacity(int.len() + 8);
        if neg {
            text.push('-');
        }
        text.push_str(if int_digits.is_empty() {
            "0"
        } else {
            int_digits
        });
        text.push('.');
        match frac.as_deref() {
            Some(f) if !f.is_empty() => text.push_str(f),
            _ => text.push('0'),
        }
        if let Some(e) = exp {
            text.push('e');
            text.push_str(&e);
        }
        // Rust reads every float literal Python does, once underscores are gone.
        let v = text.parse::<f64>().unwrap_or(f64::NAN);
        self.out
            .push_str(if v.is_finite() { &text } else { "null" });
        Ok(Kind::Float(v))
    }

    /// Digits of `radix` with single underscores between them, from `i`, appended to `buf`.
    /// Returns the index after them.
    fn digits(&self, mut i: usize, buf: &mut String, radix: u32) -> R<usize> {
        let b = self.b;
        let mut last_digit = false;
        while let Some(&c) = b.get(i) {
            if c == b'_' {
                if !last_digit || !b.get(i + 1).is_some_and(|&d| (d as char).is_digit(radix)) {
                    return fail(ErrorKind::InvalidNumber("misplaced underscore"), i);
                }
                last_digit = false;
            } else if (c as char).is_digit(radix) {
                buf.push(c as char);
                last_digit = true;
            } else {
                break;
            }
            i += 1;
        }
        Ok(i)
    }

    /// `0x...`, `0o...`, `0b...` at `pos`.
    fn radix_int(&mut self, neg: bool) -> R<Kind> {
        let start = self.pos;
        let radix = match self.b[start + 1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            _ => 2,
        };
        let mut i = start + 2;
        // An underscore may follow the prefix: 0x_ff.
        let mut digits = String::new();
        if self.b.get(i) == Some(&b'_') {
            i += 1;
        }
        let end = self.digits(i, &mut digits, radix)?;
        if digits.is_empty()
            || self
                .b
                .get(end)
                .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'.')
        {
            return fail(
                ErrorKind::InvalidNumber("invalid digit for the integer's base"),
                start,
            );
        }
        self.pos = end;
        let decimal = radix_to_decimal(&digits, radix);
        if decimal == "0" {
            self.out.push('0');
            return Ok(Kind::Scalar);
        }
        self.push_int(neg, &decimal, start)
    }

    /// Writes an integer given as decimal digits without leading zeros, not zero.
    #[inline]
    fn push_int(&mut self, neg: bool, digits: &str, at: usize) -> R<Kind> {
        // serde_json reads integers outside i64/u64 as f64 by itself, but refuses those
        // beyond f64's range (about 1.8e308: 309 digits).
        if self.lossy && digits.len() >= 309 && digits.parse::<f64>().is_ok_and(f64::is_infinite) {
            return fail(ErrorKind::NumberOutOfRange, at);
        }
        if neg {
            self.out.push('-');
        }
        self.out.push_str(digits);
        Ok(Kind::Scalar)
    }
}

fn check_hashable(kind: Kind, at: usize) -> R<()> {
    match kind {
        Kind::List => fail(ErrorKind::Unhashable("list"), at),
        Kind::Dict => fail(ErrorKind::Unhashable("dict"), at),
        Kind::Set => fail(ErrorKind::Unhashable("set"), at),
        Kind::Str | Kind::Scalar | Kind::Float(_) | Kind::Tuple => Ok(()),
    }
}

fn bad_escape(what: &'static str, at: usize) -> Box<Fail> {
    Box::new(Fail {
        kind: ErrorKind::InvalidEscape(what),
        offset: at,
    })
}

#[inline]
fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// If a string literal starts at `at` (a quote, or a prefix such as `r` then a quote), the
/// prefix length and its flags.
#[inline]
fn string_start(b: &[u8], at: usize) -> Option<(usize, u8)> {
    let mut flags = 0u8;
    let mut u = false;
    let mut n = 0;
    loop {
        let c = *b.get(at + n)?;
        if c == b'\'' || c == b'"' {
            return Some((n, flags));
        }
        if n == 2 || u {
            return None;
        }
        let f = match c {
            b'r' | b'R' => RAW,
            b'b' | b'B' => BYTES,
            b'f' | b'F' => FSTRING,
            b'u' | b'U' if n == 0 => {
                u = true;
                0
            }
            _ => return None,
        };
        if flags & f != 0 || (flags | f) == BYTES | FSTRING {
            return None;
        }
        flags |= f;
        n += 1;
    }
}

/// Exactly `n` hex digits at `i`.
#[inline]
fn hex_digits(b: &[u8], i: usize, n: usize) -> Option<u32> {
    let digits = b.get(i..i + n)?;
    let mut v = 0u32;
    for &d in digits {
        v = v.checked_mul(16)? + (d as char).to_digit(16)?;
    }
    Some(v)
}

/// A `\uDCxx` (or `\U0000DCxx`) escape at `i`: the low surrogate and the escape's length.
fn low_surrogate(b: &[u8], i: usize) -> Option<(u32, usize)> {
    if b.get(i) != Some(&b'\\') {
        return None;
    }
    let (v, len) = match b.get(i + 1)? {
        b'u' => (hex_digits(b, i + 2, 4)?, 6),
        b'U' => (hex_digits(b, i + 2, 8)?, 10),
        _ => return None,
    };
    (0xDC00..=0xDFFF).contains(&v).then_some((v, len))
}

/// Decimal digits of a number written in `radix` (any length).
fn radix_to_decimal(digits: &str, radix: u32) -> String {
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = vec![0]; // little-endian, base 10^9
    for d in digits.chars() {
        let mut carry = u64::from(d.to_digit(radix).unwrap_or(0));
        for limb in &mut limbs {
            let v = *limb * u64::from(radix) + carry;
            *limb = v % BASE;
            carry = v / BASE;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    let mut s = String::new();
    let mut it = limbs.iter().rev();
    let _ = write!(s, "{}", it.next().copied().unwrap_or(0));
    for limb in it {
        let _ = write!(s, "{limb:09}");
    }
    s
}

/// A float as Python's `repr` writes it (`json.dumps` for a dict key): shortest round-trip
/// digits, fixed notation for exponents -4..16 (`100.0`, `0.0001`), else `1e+16`, `1.5e-05`;
/// `Infinity`, `-Infinity`, `NaN` for the others.
fn push_python_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    if v.is_infinite() {
        out.push_str("Infinity");
        return;
    }
    let sci = format!("{:e}", v.abs()); // shortest digits: "1.2345e-7"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|&c| c != '.').collect();
    let point = exp + 1; // digits are 0.DIGITS x 10^point
    if !(-3..=16).contains(&point) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
}

/// A control byte (< 0x20) as a JSON escape.
#[inline]
fn push_control(out: &mut String, c: u8) {
    match c {
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        0x08 => out.push_str("\\b"),
        0x0c => out.push_str("\\f"),
        _ => {
            out.push_str("\\u00");
            out.push(HEX[usize::from(c >> 4)] as char);
            out.push(HEX[usize::from(c & 0xf)] as char);
        }
    }
}

/// One character, JSON-escaped if needed.
#[inline]
fn push_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if (c as u32) < 0x20 => push_control(out, c as u8),
        c => out.push(c),
    }
}

/// Text as the content of a JSON string.
fn push_escaped(out: &mut String, s: &str) {
    let mut run = 0;
    for (i, c) in s.bytes().enumerate() {
        if c == b'"' || c == b'\\' || c < 0x20 {
            out.push_str(&s[run..i]);
            push_char(out, c as char);
            run = i + 1;
        }
    }
    out.push_str(&s[run..]);
}

#[cfg(test)]
mod tests;
