//! The parts of dbt's Jinja context that stand in for Python
//! (<https://docs.getdbt.com/reference/dbt-jinja-functions>): `modules`
//! (`datetime`, `re`), `api` (`Relation.create`, `Column` type helpers),
//! `zip`, `set`, `builtins`, and a formatter that prints values as Python
//! does (`True`, `None`, `['a', 'b']`), since dbt projects write SQL with
//! `{{ some_bool }}` and expect Python's spelling.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Value, ValueKind};
use minijinja::{Environment, Error as JError, ErrorKind, State};

use crate::pyargs::Args;
use crate::relation::Relation;

fn err(msg: impl Into<String>) -> JError {
    JError::new(ErrorKind::InvalidOperation, msg.into())
}

/// Python's `repr()` of a value (strings quoted), for items inside lists/dicts.
pub fn py_repr(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default();
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        }
        _ => py_str(v),
    }
}

/// Python's `str()` of a value.
pub fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::None => "None".into(),
        ValueKind::Bool => if v.is_true() { "True" } else { "False" }.into(),
        ValueKind::Number => {
            if let Some(f) = v
                .as_i64()
                .is_none()
                .then(|| f64::try_from(v.clone()).ok())
                .flatten()
            {
                py_float(f)
            } else {
                v.to_string()
            }
        }
        ValueKind::Seq if v.as_object().is_none_or(|o| o.repr() == ObjectRepr::Seq) => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| it.map(|x| py_repr(&x)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map
            if v.as_object().is_none_or(|o| o.repr() == ObjectRepr::Map) && !is_plain_object(v) =>
        {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| {
                    it.map(|k| {
                        let val = v.get_item(&k).unwrap_or_default();
                        format!("{}: {}", py_repr(&k), py_repr(&val))
                    })
                    .collect()
                })
                .unwrap_or_default();
            format!("{{{}}}", items.join(", "))
        }
        _ => v.to_string(),
    }
}

/// Objects with their own rendering (relations, namespaces, tables).
fn is_plain_object(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.repr() == ObjectRepr::Plain)
        || v.downcast_object_ref::<crate::relation::Relation>()
            .is_some()
}

/// Python's `repr(float)`: shortest round-trip digits, `.0` on integers.
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == f.trunc() && f.abs() < 1e16 {
        return format!("{f:.1}");
    }
    let s = format!("{f}");
    if f.abs() >= 1e16 || (f != 0.0 && f.abs() < 1e-4) {
        // Python switches to exponent notation here
        let e = format!("{f:e}");
        let (m, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if exp < 0 { "-" } else { "+" }, exp.abs());
    }
    s
}

/// `modules.re`: Python's `re` on the `fancy-regex` crate, which has what
/// the `regex` crate leaves out and Python patterns use: look-around
/// (`(?=\s|$)`, dbt-codegen) and back-references.
#[derive(Debug)]
struct Re;

const RE_I: i64 = 2;
const RE_M: i64 = 8;
const RE_S: i64 = 16;
const RE_X: i64 = 64;

/// A Python pattern in the syntax `fancy-regex` reads, with the flags its
/// leading inline group (`(?ix)`) sets.
///
/// - Python reads a `{` that does not open a repetition (`{m}`, `{m,}`,
///   `{,n}`, `{m,n}`) as a literal brace, so patterns written for it match
///   `{{ config(...) }}` with a bare `{{`: such braces (and a `}` that
///   closes no repetition) are escaped; `{,n}` becomes `{0,n}`.
/// - Verbose mode (`re.X` or `(?x)`) is applied here, as Python applies it:
///   whitespace and `#` comments outside character classes go, while a
///   space inside a class (`[\w ]`) stays a space.
/// - `(?P=name)` becomes `\k<name>`, and `\Z` (Python's end of text) `\z`.
fn py_pattern(p: &str, flags: i64) -> (String, i64) {
    let mut flags = flags;
    let mut b: Vec<char> = p.chars().collect();
    // leading inline flags: `(?ix)`, `(?i)(?s)`
    let mut lead = String::new();
    let mut i = 0;
    while b.get(i) == Some(&'(') && b.get(i + 1) == Some(&'?') {
        let Some(n) = b[i + 2..].iter().position(|c| *c == ')') else {
            break;
        };
        let letters: String = b[i + 2..i + 2 + n].iter().collect();
        if letters.is_empty() || !letters.chars().all(|c| "aiLmsux".contains(c)) {
            break;
        }
        for c in letters.chars() {
            flags |= match c {
                'i' => RE_I,
                'm' => RE_M,
                's' => RE_S,
                'x' => RE_X,
                _ => 0,
            };
        }
        i += n + 3;
    }
    b.drain(..i);
    for (bit, c) in [(RE_I, 'i'), (RE_M, 'm'), (RE_S, 's')] {
        if flags & bit != 0 {
            lead.push(c);
        }
    }
    let verbose = flags & RE_X != 0;
    let mut out = String::with_capacity(p.len());
    if !lead.is_empty() {
        out.push_str(&format!("(?{lead})"));
    }
    let (mut i, mut in_class, mut open_rep) = (0, false, false);
    while i < b.len() {
        let c = b[i];
        match c {
            '\\' => {
                match b.get(i + 1) {
                    Some('Z') if !in_class => out.push_str("\\z"),
                    Some(n) if verbose && n.is_whitespace() => {
                        // an escaped space in verbose mode is a space
                        out.push_str(&regex::escape(&n.to_string()));
                    }
                    Some(n) => {
                        out.push(c);
                        out.push(*n);
                    }
                    None => out.push(c),
                }
                i += 2;
                continue;
            }
            c if verbose && !in_class && c.is_whitespace() => {
                i += 1;
                continue;
            }
            '#' if verbose && !in_class => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            ' ' if in_class => {
                out.push_str("\\x20");
                i += 1;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                i += 1;
                // `[]...]` and `[^]...]`: a leading `]` is literal
                if b.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if b.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                continue;
            }
            // a nested `[` in a class is literal in Python
            '[' if in_class => {
                out.push_str("\\[");
                i += 1;
                continue;
            }
            ']' if in_class => in_class = false,
            '(' if !in_class
                && b.get(i + 1) == Some(&'?')
                && b.get(i + 2) == Some(&'P')
                && b.get(i + 3) == Some(&'=') =>
            {
                let close = b[i..].iter().position(|c| *c == ')').map(|n| i + n);
                if let Some(close) = close {
                    let name: String = b[i + 4..close].iter().collect();
                    out.push_str(&format!("\\k<{name}>"));
                    i = close + 1;
                    continue;
                }
            }
            '{' if !in_class => {
                let close = b[i + 1..].iter().position(|c| *c == '}');
                let quant = close.is_some_and(|n| {
                    let body: String = b[i + 1..i + 1 + n].iter().collect();
                    let mut parts = body.splitn(2, ',');
                    let lo = parts.next().unwrap_or("");
                    let hi = parts.next();
                    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
                    match hi {
                        None => !lo.is_empty() && digits(lo),
                        Some(hi) => digits(lo) && digits(hi) && !(lo.is_empty() && hi.is_empty()),
                    }
                });
                if quant {
                    open_rep = true;
                    if b.get(i + 1) == Some(&',') {
                        // Python's `{,n}` is `{0,n}`
                        out.push_str("{0");
                        i += 1;
                        continue;
                    }
                } else {
                    out.push_str("\\{");
                    i += 1;
                    continue;
                }
            }
            '}' if !in_class => {
                if open_rep {
                    open_rep = false;
                } else {
                    out.push_str("\\}");
                    i += 1;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    (out, flags)
}

/// A compiled pattern: the engine's regex (shared through [`cached_regex`]),
/// and Python's source and flags, with the source's translation (for
/// `match`/`fullmatch`, which anchor it).
#[derive(Debug)]
struct Pattern {
    re: Arc<fancy_regex::Regex>,
    source: String,
    translated: String,
    flags: i64,
}

fn compile_re(pattern: &str, flags: i64) -> Result<Pattern, JError> {
    let (translated, flags) = py_pattern(pattern, flags);
    let re = cached_regex(&translated, pattern, flags)?;
    Ok(Pattern {
        re,
        source: pattern.to_string(),
        translated,
        flags,
    })
}

/// Most compiled regexes a process keeps; past it the cache starts over.
const REGEX_CACHE_LIMIT: usize = 1024;

/// The compiled regex for a translated pattern and its flags, built once
/// per process. Packages call `modules.re.match(pattern, s)` (and
/// `re.compile` inside macros) once per row, column or node, and Python's
/// `re` caches compiled patterns the same way; compiling `fancy-regex`
/// patterns (DFA determinization) was a fifth of activity_schema's build.
/// Keyed by the translated text, so a pattern differs only when the regex
/// would. Bounded: a project building patterns from data cannot grow it
/// without limit (it is emptied when full, as Python's `re` does).
fn cached_regex(
    translated: &str,
    source: &str,
    flags: i64,
) -> Result<Arc<fancy_regex::Regex>, JError> {
    type Cache = std::sync::Mutex<HashMap<(String, i64), Arc<fancy_regex::Regex>>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (translated.to_string(), flags);
    if let Some(re) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(re);
    }
    let mut b = fancy_regex::RegexBuilder::new(translated);
    b.case_insensitive(flags & RE_I != 0)
        .multi_line(flags & RE_M != 0)
        .dot_matches_new_line(flags & RE_S != 0);
    let re = Arc::new(
        b.build()
            .map_err(|e| err(format!("re: bad pattern {source:?}: {e}")))?,
    );
    if let Ok(mut c) = cache.lock() {
        if c.len() >= REGEX_CACHE_LIMIT {
            c.clear();
        }
        c.insert(key, re.clone());
    }
    Ok(re)
}

fn re_err(e: fancy_regex::Error) -> JError {
    err(format!("re: {e}"))
}

/// A match: `.group(n)`, `.groups()`, `.start()`, `.end()`, `.span()`
/// (offsets in characters, as Python's).
#[derive(Debug)]
struct Match {
    groups: Vec<Option<String>>,
    names: Vec<Option<String>>,
    start: usize,
    end: usize,
}

impl Object for Match {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let opt = |g: &Option<String>| g.clone().map(Value::from).unwrap_or(Value::from(()));
        let index = |a: &Value| -> Result<usize, JError> {
            match a.as_str() {
                Some(name) => self
                    .names
                    .iter()
                    .position(|n| n.as_deref() == Some(name))
                    .ok_or_else(|| err(format!("no such group: {name}"))),
                None => Ok(a.as_i64().unwrap_or(0).max(0) as usize),
            }
        };
        match m {
            "group" => {
                let one = |a: &Value| -> Result<Value, JError> {
                    self.groups
                        .get(index(a)?)
                        .map(opt)
                        .ok_or_else(|| err("no such group"))
                };
                match args {
                    [] => one(&Value::from(0)),
                    [a] => one(a),
                    many => Ok(Value::from(
                        many.iter().map(one).collect::<Result<Vec<_>, _>>()?,
                    )),
                }
            }
            "groups" => Ok(Value::from(
                self.groups.iter().skip(1).map(opt).collect::<Vec<_>>(),
            )),
            "groupdict" => Ok(Value::from_iter(
                self.names
                    .iter()
                    .zip(&self.groups)
                    .filter_map(|(n, g)| Some((n.clone()?, opt(g)))),
            )),
            "start" => Ok(Value::from(self.start)),
            "end" => Ok(Value::from(self.end)),
            "span" => Ok(Value::from(vec![self.start, self.end])),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// The character offset of byte offset `i` of `s`.
fn char_at(s: &str, i: usize) -> usize {
    s[..i].chars().count()
}

fn do_match(p: &Pattern, s: &str, mode: &str) -> Result<Value, JError> {
    let anchored;
    let re = match mode {
        "match" | "fullmatch" => {
            let tail = if mode == "fullmatch" { "\\z" } else { "" };
            anchored = cached_regex(
                &format!("\\A(?:{}){tail}", p.translated),
                &p.source,
                p.flags,
            )?;
            &*anchored
        }
        _ => &*p.re,
    };
    let Some(c) = re.captures(s).map_err(re_err)? else {
        return Ok(Value::from(()));
    };
    let m0 = c.get(0);
    Ok(Value::from_object(Match {
        groups: c
            .iter()
            .map(|g| g.map(|g| g.as_str().to_string()))
            .collect(),
        names: re.capture_names().map(|n| n.map(String::from)).collect(),
        start: m0.map(|m| char_at(s, m.start())).unwrap_or(0),
        end: m0.map(|m| char_at(s, m.end())).unwrap_or(0),
    }))
}

fn re_call(p: &Pattern, m: &str, rest: &[Value]) -> Result<Value, JError> {
    let s = rest.first().map(|v| v.to_string()).unwrap_or_default();
    let re = &p.re;
    match m {
        "match" | "search" | "fullmatch" => do_match(p, &s, m),
        "findall" => {
            let mut out = Vec::new();
            for c in re.captures_iter(&s) {
                let c = c.map_err(re_err)?;
                let text = |i: usize| c.get(i).map(|m| m.as_str().to_string()).unwrap_or_default();
                out.push(match c.len() {
                    0 | 1 => Value::from(text(0)),
                    2 => Value::from(text(1)),
                    n => Value::from((1..n).map(text).collect::<Vec<_>>()),
                });
            }
            Ok(Value::from(out))
        }
        "split" => {
            // Python's split keeps the captured groups between the pieces
            let maxsplit = rest.get(1).and_then(|v| v.as_i64()).unwrap_or(0);
            let mut out = Vec::new();
            let mut last = 0;
            for (n, c) in re.captures_iter(&s).enumerate() {
                if maxsplit > 0 && n as i64 >= maxsplit {
                    break;
                }
                let c = c.map_err(re_err)?;
                let Some(m0) = c.get(0) else { continue };
                out.push(Value::from(&s[last..m0.start()]));
                for g in 1..c.len() {
                    out.push(
                        c.get(g)
                            .map(|g| Value::from(g.as_str()))
                            .unwrap_or(Value::from(())),
                    );
                }
                last = m0.end();
            }
            out.push(Value::from(&s[last..]));
            Ok(Value::from(out))
        }
        _ => Err(JError::from(ErrorKind::UnknownMethod)),
    }
}

/// `re.sub`: replace the first `count` matches (all when 0).
fn py_sub(re: &fancy_regex::Regex, repl: &str, s: &str, count: i64) -> Result<Value, JError> {
    let repl = py_repl(repl);
    let limit = usize::try_from(count).unwrap_or(0);
    re.try_replacen(s, limit, repl.as_str())
        .map(|c| Value::from(c.into_owned()))
        .map_err(re_err)
}

/// Python's replacement syntax (`\1`, `\g<name>`) to the regex crate's.
fn py_repl(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    chars.next();
                    out.push_str(&format!("${{{d}}}"));
                }
                Some('g') => {
                    chars.next();
                    let name: String = chars
                        .by_ref()
                        .skip_while(|c| *c == '<')
                        .take_while(|c| *c != '>')
                        .collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

impl Object for Pattern {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        match m {
            "sub" => {
                let repl = args.first().map(|v| v.to_string()).unwrap_or_default();
                let s = args.get(1).map(|v| v.to_string()).unwrap_or_default();
                let count = args.get(2).and_then(|v| v.as_i64()).unwrap_or(0);
                py_sub(&self.re, &repl, &s, count)
            }
            _ => re_call(self, m, args),
        }
    }
}

impl Object for Re {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(match key.as_str()? {
            "I" | "IGNORECASE" => RE_I,
            "M" | "MULTILINE" => RE_M,
            "S" | "DOTALL" => RE_S,
            "X" | "VERBOSE" => RE_X,
            _ => return None,
        }))
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let args = Args::new(args);
        let pos = args.pos;
        let pattern = pos.first().map(|v| v.to_string()).unwrap_or_default();
        let flag_at = |i: usize| args.int(i, "flags", 0);
        match m {
            "compile" => Ok(Value::from_object(compile_re(&pattern, flag_at(1))?)),
            "escape" => Ok(Value::from(regex::escape(&pattern))),
            "sub" => {
                let p = compile_re(&pattern, flag_at(4))?;
                let repl = pos.get(1).map(|v| v.to_string()).unwrap_or_default();
                let s = pos.get(2).map(|v| v.to_string()).unwrap_or_default();
                py_sub(&p.re, &repl, &s, args.int(3, "count", 0))
            }
            "match" | "search" | "fullmatch" | "findall" | "split" => {
                let re = compile_re(&pattern, flag_at(if m == "split" { 3 } else { 2 }))?;
                re_call(&re, m, &pos[1.min(pos.len())..])
            }
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// `modules.itertools`: the combinatoric iterators and `chain`, as lists of
/// tuples in Python's order.
#[derive(Debug)]
struct Itertools;

/// Index tuples of `r` out of `n`, in Python's lexicographic order: all
/// orderings (`permutations`), increasing (`combinations`) or
/// non-decreasing ones (`combinations_with_replacement`).
fn index_tuples(n: usize, r: usize, kind: &str) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur = Vec::with_capacity(r);
    fn walk(n: usize, r: usize, kind: &str, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == r {
            out.push(cur.clone());
            return;
        }
        let from = match (kind, cur.last()) {
            ("combinations", Some(l)) => l + 1,
            ("combinations_with_replacement", Some(l)) => *l,
            _ => 0,
        };
        for i in from..n {
            if kind == "permutations" && cur.contains(&i) {
                continue;
            }
            cur.push(i);
            walk(n, r, kind, cur, out);
            cur.pop();
        }
    }
    if r > n && kind != "combinations_with_replacement" {
        return out;
    }
    walk(n, r, kind, &mut cur, &mut out);
    out
}

impl Object for Itertools {
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let args = Args::new(args);
        let list = |v: &Value| -> Result<Vec<Value>, JError> { Ok(v.try_iter()?.collect()) };
        let tuples = |items: &[Value], idx: Vec<Vec<usize>>| {
            Value::from(
                idx.into_iter()
                    .map(|t| {
                        Value::from(t.into_iter().map(|i| items[i].clone()).collect::<Vec<_>>())
                    })
                    .collect::<Vec<_>>(),
            )
        };
        match m {
            "permutations" | "combinations" | "combinations_with_replacement" => {
                let items = list(&args.get(0, "iterable").unwrap_or_default())?;
                let r = match args.get(1, "r").filter(|r| !r.is_none()) {
                    Some(r) => usize::try_from(r).map_err(|_| {
                        err(format!("itertools.{m}: r must be a non-negative integer"))
                    })?,
                    None if m == "permutations" => items.len(),
                    None => {
                        return Err(err(format!(
                            "itertools.{m}() missing required argument 'r'"
                        )))
                    }
                };
                Ok(tuples(&items, index_tuples(items.len(), r, m)))
            }
            "product" => {
                let repeat = args.int(usize::MAX, "repeat", 1).max(0) as usize;
                let pools: Vec<Vec<Value>> = args.pos.iter().map(list).collect::<Result<_, _>>()?;
                let pools: Vec<&Vec<Value>> = (0..repeat).flat_map(|_| pools.iter()).collect();
                let mut out: Vec<Vec<Value>> = vec![vec![]];
                for pool in pools {
                    out = out
                        .into_iter()
                        .flat_map(|t| {
                            pool.iter().map(move |x| {
                                let mut t = t.clone();
                                t.push(x.clone());
                                t
                            })
                        })
                        .collect();
                }
                Ok(Value::from(
                    out.into_iter().map(Value::from).collect::<Vec<_>>(),
                ))
            }
            "chain" => {
                let mut out = Vec::new();
                for a in args.pos {
                    out.extend(a.try_iter()?);
                }
                Ok(Value::from(out))
            }
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// `api.Relation` and `api.Column`.
#[derive(Debug)]
struct Api(&'static str);

impl Object for Api {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match (self.0, key.as_str()?) {
            ("api", "Relation") => Some(Value::from_object(Api("Relation"))),
            ("api", "Column") => Some(Value::from_object(Api("Column"))),
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let args = Args::new(args);
        let pos = args.pos;
        let sarg = |i: usize, k: &str| args.opt_string(i, k);
        match (self.0, m) {
            ("Relation", "create") => Ok(Relation {
                database: sarg(0, "database"),
                schema: sarg(1, "schema"),
                identifier: sarg(2, "identifier").unwrap_or_default(),
                kind: sarg(3, "type"),
                quoting: Default::default(),
                external: None,
                limit: None,
                event_time: None,
                window: None,
            }
            .to_value()),
            ("Relation", "scd_args") => {
                let mut out: Vec<Value> = match pos.first() {
                    Some(v) if v.kind() == ValueKind::Seq => v.try_iter()?.collect(),
                    Some(v) => vec![v.clone()],
                    None => vec![],
                };
                out.extend(pos.get(1).cloned());
                Ok(Value::from(out))
            }
            ("Column", "translate_type") => {
                let t = sarg(0, "dtype").unwrap_or_default();
                Ok(Value::from(if t.eq_ignore_ascii_case("string") {
                    "TEXT".to_string()
                } else {
                    t
                }))
            }
            ("Column", "numeric_type") => {
                let t = sarg(0, "dtype").unwrap_or_default();
                Ok(Value::from(
                    match (sarg(1, "precision"), sarg(2, "scale")) {
                        (Some(p), Some(s)) => format!("{t}({p},{s})"),
                        _ => t,
                    },
                ))
            }
            ("Column", "string_type") => Ok(Value::from(format!(
                "character varying({})",
                sarg(0, "size").unwrap_or_default()
            ))),
            ("Column", "create") => {
                let name = sarg(0, "name").unwrap_or_default();
                let ty = sarg(1, "label_or_dtype").unwrap_or_default();
                Ok(column_value(&name, &ty))
            }
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A column as dbt's `Column`: `name`, `quoted`, `data_type`, `is_string()`, ...
#[derive(Debug)]
pub struct Column {
    pub name: String,
    pub dtype: String,
}

/// A [`Column`] value.
pub fn column_value(name: &str, dtype: &str) -> Value {
    Value::from_object(Column {
        name: name.to_string(),
        dtype: dtype.to_string(),
    })
}

impl Object for Column {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(match key.as_str()? {
            "name" | "column" => self.name.clone(),
            "quoted" => crate::relation::quote(&self.name),
            "dtype" => self.dtype.clone(),
            // dbt's Column.data_type: strings as `character varying(256)`
            "data_type" | "expanded_data_type" => {
                let t = self.dtype.to_ascii_uppercase();
                if t == "VARCHAR" || t == "TEXT" || t == "STRING" {
                    "character varying(256)".to_string()
                } else {
                    self.dtype.clone()
                }
            }
            _ => return None,
        }))
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        _a: &[Value],
    ) -> Result<Value, JError> {
        let t = self.dtype.to_ascii_lowercase();
        let is = |xs: &[&str]| xs.iter().any(|x| t.starts_with(x));
        Ok(Value::from(match m {
            "is_string" => is(&["varchar", "text", "character", "string", "char"]),
            "is_number" => is(&[
                "int", "bigint", "smallint", "tinyint", "hugeint", "ubigint", "uinteger", "double",
                "float", "real", "decimal", "numeric",
            ]),
            "is_integer" => is(&[
                "int", "bigint", "smallint", "tinyint", "hugeint", "ubigint", "uinteger",
            ]),
            "is_float" => is(&["double", "float", "real"]),
            "is_numeric" => is(&["decimal", "numeric"]),
            // dbt's Column.string_size(): the declared size, else 256
            "string_size" => {
                if !is(&["varchar", "text", "character", "string", "char"]) {
                    return Err(JError::new(
                        ErrorKind::InvalidOperation,
                        "Called string_size() on non-string field!",
                    ));
                }
                let size = t
                    .split_once('(')
                    .and_then(|(_, r)| r.trim_end_matches(')').trim().parse::<i64>().ok());
                return Ok(Value::from(size.unwrap_or(256)));
            }
            _ => return Err(JError::from(ErrorKind::UnknownMethod)),
        }))
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Column {} ({})>", self.name, self.dtype)
    }
}

/// Jinja2's `round(value, precision=0, method='common')` (minijinja's
/// takes no method; packages write `x | round(0, 'ceil')`): `common` is
/// Python's `round` (an integer stays one; a float rounds half to even on
/// its exact value), `ceil`/`floor` give a float as Jinja2 does.
fn round_filter(v: Value, precision: Option<i32>, method: Option<String>) -> Result<Value, JError> {
    let p = precision.unwrap_or(0);
    let method = method.as_deref().unwrap_or("common");
    let bad = |m: String| JError::new(ErrorKind::InvalidOperation, m);
    if !matches!(method, "common" | "ceil" | "floor") {
        return Err(bad("method must be 'common', 'ceil' or 'floor'".into()));
    }
    let x = match v.kind() {
        ValueKind::Number => f64::try_from(v.clone()).map_err(|e| bad(e.to_string()))?,
        _ => return Err(bad(format!("round: {v} is not a number"))),
    };
    let is_int = v.is_integer();
    let scale = 10f64.powi(p);
    Ok(match method {
        "ceil" => Value::from((x * scale).ceil() / scale),
        "floor" => Value::from((x * scale).floor() / scale),
        _ if is_int && p >= 0 => v,
        // Rust formats the exact binary value with ties to even, as Python's round
        _ if p >= 0 => Value::from(format!("{x:.*}", p as usize).parse::<f64>().unwrap_or(x)),
        _ => Value::from((x * scale).round() / scale),
    })
}

/// `v` read as a scalar Python literal (`True`, `None`, `12`, `-1.5e3`, a
/// quoted string), as `ast.literal_eval` reads it; a non-string is itself.
/// None when the text is not such a literal (lists and dicts are not read).
fn py_literal(v: &Value) -> Option<Value> {
    let Some(s) = v.as_str() else {
        return Some(v.clone());
    };
    let t = s.trim();
    match t {
        "True" => return Some(Value::from(true)),
        "False" => return Some(Value::from(false)),
        "None" => return Some(Value::from(())),
        _ => {}
    }
    let digits = t.replace('_', "");
    let ok_underscores = !t.contains("__") && !t.starts_with('_') && !t.ends_with('_');
    if ok_underscores && !digits.is_empty() {
        let unsigned = digits.trim_start_matches(['-', '+']);
        if unsigned.bytes().all(|b| b.is_ascii_digit()) && !unsigned.is_empty() {
            // Python refuses leading zeros in a non-zero int literal
            if unsigned.len() > 1
                && unsigned.starts_with('0')
                && unsigned.bytes().any(|b| b != b'0')
            {
                return None;
            }
            return digits.parse::<i64>().ok().map(Value::from);
        }
        let lower = unsigned.to_ascii_lowercase();
        if !lower.contains("inf") && !lower.contains("nan") {
            if let Ok(f) = digits.parse::<f64>() {
                return Some(Value::from(f));
            }
        }
    }
    for q in ['\'', '"'] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) && !t[1..t.len() - 1].contains(q) {
            return Some(Value::from(&t[1..t.len() - 1]));
        }
    }
    None
}

/// `modules`, `api`, `zip`, `set`, `builtins`, `local_md5` and the formatter.
pub fn install_modules(env: &mut Environment<'static>) {
    let mut modules = BTreeMap::new();
    modules.insert("datetime", crate::pydatetime::datetime_module());
    modules.insert("pytz", crate::pydatetime::pytz_module());
    modules.insert("re", Value::from_object(Re));
    modules.insert("itertools", Value::from_object(Itertools));
    env.add_global("modules", Value::from_serialize(&modules));
    crate::pydatetime::install(env);
    env.add_global("api", Value::from_object(Api("api")));
    env.add_function(
        "zip",
        |args: minijinja::value::Rest<Value>| -> Result<Value, JError> {
            let lists: Vec<Vec<Value>> = args
                .iter()
                .map(|a| a.try_iter().map(|i| i.collect()))
                .collect::<Result<_, _>>()?;
            let n = lists.iter().map(|l| l.len()).min().unwrap_or(0);
            Ok(Value::from(
                (0..n)
                    .map(|i| Value::from(lists.iter().map(|l| l[i].clone()).collect::<Vec<_>>()))
                    .collect::<Vec<_>>(),
            ))
        },
    );
    let set_fn = |v: Option<Value>| -> Result<Value, JError> {
        let mut out: Vec<Value> = Vec::new();
        if let Some(v) = v {
            push_unique(&mut out, v.try_iter()?);
        }
        Ok(PySet::value(out))
    };
    env.add_function("set", set_fn);
    env.add_function("set_strict", set_fn);
    env.add_function("local_md5", |s: String| {
        format!("{:032x}", md5_hex(s.as_bytes()))
    });
    let mut builtins = BTreeMap::new();
    for name in ["ref", "source", "config"] {
        builtins.insert(name, Value::from(name));
    }
    env.add_global("builtins", Value::from_serialize(&builtins));
    env.add_global("dbt_version", dbt_project::DBT_VERSION);
    // dbt's type filters (https://docs.getdbt.com/reference/dbt-jinja-functions/as_bool):
    // read the text as a Python literal of the type, so that a rendered YAML
    // value keeps it ("{{ var('x') | as_bool }}" gives a boolean)
    env.add_filter("as_text", |v: Value| -> Value {
        if v.kind() == ValueKind::String {
            v
        } else {
            Value::from(v.to_string())
        }
    });
    env.add_filter("as_bool", |v: Value| -> Result<Value, JError> {
        match py_literal(&v) {
            Some(b) if b.kind() == ValueKind::Bool => Ok(b),
            _ => Err(JError::new(
                ErrorKind::InvalidOperation,
                format!("Could not convert value '{v}' into type 'bool'"),
            )),
        }
    });
    env.add_filter("as_number", |v: Value| -> Result<Value, JError> {
        match py_literal(&v) {
            Some(n) if n.kind() == ValueKind::Number => Ok(n),
            _ => Err(JError::new(
                ErrorKind::InvalidOperation,
                format!("Could not convert value '{v}' into type 'number'"),
            )),
        }
    });
    env.add_filter("as_native", |v: Value| -> Value {
        py_literal(&v).unwrap_or(v)
    });
    env.add_filter("round", round_filter);
    env.add_function("__tarmac_list", || Value::from_object(PyList::default()));
    env.add_function("__tarmac_dict", || Value::from_object(PyDict::default()));
    env.add_function("__tarmac_mut", |v: Value| py_mutable(v));
    env.add_global("__tarmac_unset", Value::from_object(Unset));
    // Python's `dict()` makes a dict that `update`/`pop` change in place
    env.add_function("dict", py_dict_call);
    env.add_filter("random", py_random);
    // Jinja2's `list` makes a new Python list, which `pop`/`append` change
    // (dbt-codegen: `(nodes | selectattr(...) | list).pop()`)
    env.add_filter("list", |state: &State, v: Value| -> Result<Value, JError> {
        let items = minijinja::filters::list(state, v)?;
        Ok(Value::from_object(PyList(std::sync::Mutex::new(
            items.try_iter()?.collect(),
        ))))
    });
    // Jinja2's undefined has length 0 (`column.fields | length` on a column
    // without nested fields, dbt-codegen)
    let length = |v: Value| -> Result<usize, JError> {
        if v.is_undefined() {
            Ok(0)
        } else {
            minijinja::filters::length(&v)
        }
    };
    env.add_filter("length", length);
    env.add_filter("count", length);
    env.set_unknown_method_callback(unknown_method);
    env.set_formatter(|out, state, value| {
        if value.is_safe() || value.kind() == ValueKind::String {
            return minijinja::escape_formatter(out, state, value);
        }
        if value
            .as_object()
            .is_some_and(|o| !matches!(o.repr(), ObjectRepr::Seq | ObjectRepr::Map))
            || is_plain_object(value)
        {
            return minijinja::escape_formatter(out, state, value);
        }
        out.write_str(&py_str(value)).map_err(JError::from)
    });
}

/// MD5 of bytes (`local_md5`), as a u128 for hex formatting.
fn md5_hex(data: &[u8]) -> u128 {
    // RFC 1321
    let s: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
        .collect();
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(s[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&a0.to_le_bytes());
    out[4..8].copy_from_slice(&b0.to_le_bytes());
    out[8..12].copy_from_slice(&c0.to_le_bytes());
    out[12..].copy_from_slice(&d0.to_le_bytes());
    u128::from_be_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jinja::install_python_and_flags as install;

    #[test]
    fn regexes_compile_once_per_pattern_and_flags() {
        // the same pattern and flags give the same compiled regex (the
        // cache); other flags or the anchored form of match are other entries
        let a = cached_regex("x(y+)", "x(y+)", 0).unwrap();
        let b = cached_regex("x(y+)", "x(y+)", 0).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let i = cached_regex("x(y+)", "x(y+)", RE_I).unwrap();
        assert!(!Arc::ptr_eq(&a, &i));
        assert!(i.is_match("XY").unwrap() && !a.is_match("XY").unwrap());
        let p = compile_re("y+", 0).unwrap();
        assert!(Arc::ptr_eq(&p.re, &compile_re("y+", 0).unwrap().re));
        // match/fullmatch anchor the cached pattern, search does not
        let found = |m: &str, s: &str| !do_match(&p, s, m).unwrap().is_none();
        assert!(found("search", "xyy") && !found("match", "xyy"));
        assert!(found("match", "yyx") && !found("fullmatch", "yyx"));
        assert!(found("fullmatch", "yy"));
        assert!(cached_regex("(", "(", 0).is_err());
    }

    #[test]
    fn column_string_size_is_dbts() {
        let env = Environment::new();
        let c = |t: &str| {
            env.render_str(
                "{{ c.string_size() }}",
                minijinja::context! { c => column_value("x", t) },
            )
        };
        assert_eq!(c("VARCHAR").unwrap(), "256");
        assert_eq!(c("character varying(30)").unwrap(), "30");
        assert!(c("INTEGER").is_err());
    }

    #[test]
    fn round_takes_jinja2_methods() {
        let mut env = Environment::new();
        env.add_filter("round", round_filter);
        let r = |src: &str| env.render_str(src, ()).unwrap();
        assert_eq!(r("{{ (7 / 3) | round(0, 'ceil') | int }}"), "3");
        assert_eq!(r("{{ (7 / 3) | round(0, 'floor') }}"), "2.0");
        assert_eq!(
            r("{{ 2.5 | round }}|{{ 3.5 | round }}|{{ 2.675 | round(2) }}"),
            "2.0|4.0|2.67"
        );
        assert_eq!(r("{{ 5 | round }}|{{ 1.26 | round(1, 'ceil') }}"), "5|1.3");
        assert!(env.render_str("{{ 1 | round(0, 'up') }}", ()).is_err());
    }

    #[test]
    fn python_spelling() {
        assert_eq!(py_str(&Value::from(true)), "True");
        assert_eq!(py_str(&Value::from(())), "None");
        assert_eq!(py_str(&Value::from(1.5)), "1.5");
        assert_eq!(py_str(&Value::from(2.0)), "2.0");
        assert_eq!(py_str(&Value::from(vec!["a", "b"])), "['a', 'b']");
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(
            format!("{:032x}", md5_hex(b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }

    #[test]
    fn empty_literals_given_as_dict_values_can_change() {
        let (_d, info) = crate::testing::run_info();
        let mut env = Environment::new();
        install(&mut env, &info);
        // dbt_utils.union_relations: `relation_columns.update({r: []})`,
        // then `relation_columns[r].append(c)`
        let src = "{% set cols = {} %}{% do cols.update({'r': []}) %}\
                   {% do cols['r'].append('a') %}{% do cols['r'].append('b') %}{{ cols['r'] }}";
        let out = env.render_str(&preprocess(src), ()).unwrap();
        assert_eq!(out, "['a', 'b']");
        // text outside statement tags stays as written
        assert_eq!(preprocess("select '{a: []}'"), "select '{a: []}'");
    }

    /// An environment with the Python stand-ins, rendering through
    /// [`preprocess`] as templates are.
    fn py_env() -> Environment<'static> {
        let mut env = Environment::new();
        install_modules(&mut env);
        env
    }

    fn render(env: &Environment<'static>, src: &str) -> String {
        env.render_str(&preprocess(src), ())
            .unwrap_or_else(|e| panic!("{src}: {e:#}"))
    }

    #[test]
    fn dicts_and_lists_change_in_place_as_in_python() {
        let env = py_env();
        let r = |s: &str| render(&env, s);
        // dbt-activity-schema: `dict(...)` then `.update`
        assert_eq!(
            r("{% set d = dict(a=1) %}{% do d.update({'b': 2}) %}{{ d['b'] }} {{ d | length }}"),
            "2 2"
        );
        // a non-empty literal, also over several lines
        assert_eq!(
            r(
                "{% set d = {\n 'name': 'x',\n 'tests': ['u']\n}\n%}{% do d.update({'k': 1}) %}\
               {% do d['tests'].append('n') %}{{ d['tests'] }} {{ d.pop('k') }} {{ d | length }}"
            ),
            "['u', 'n'] 1 2"
        );
        assert_eq!(
            r("{% set l = ['a', 'b'] %}{% do l.append('c') %}{{ l | join(',') }}"),
            "a,b,c"
        );
        // a literal that is only part of the expression is left alone
        assert_eq!(r("{% set l = ['a'] + ['b'] %}{{ l | join }}"), "ab");
        assert!(preprocess("{% set l = ['a'] + ['b'] %}").starts_with("{% set l = ['a'] +"));
        assert_eq!(r("{% set s = '{x}' %}{{ s }}"), "{x}");
        // dict() from pairs and from a mapping with keywords
        assert_eq!(r("{{ dict([('a', 1)])['a'] }}"), "1");
        assert_eq!(r("{{ dict({'a': 1}, b=2) | length }}"), "2");
        // an unchangeable dict says why
        let e = env
            .render_str(
                "{% set d = x %}{% do d.update({}) %}",
                minijinja::context! {x => minijinja::context!{a => 1}},
            )
            .unwrap_err();
        assert!(format!("{e:#}").contains("cannot change"), "{e:#}");
    }

    #[test]
    fn block_tags_take_pythons_trailing_colon() {
        let env = py_env();
        let r = |s: &str| render(&env, s);
        // dbt-testgen: `{% if key_length > 0: %}`
        assert_eq!(
            r("{% for i in range(3): %}{% if i > 0: %}{{ i }}{% else: %}-{% endif %}{% endfor %}"),
            "-12"
        );
        assert_eq!(r("{%- if true :-%} y {%- endif %}"), "y");
        // a colon inside an expression stays
        assert_eq!(r("{% if {'a': 1}['a'] == 1 %}ok{% endif %}"), "ok");
        assert_eq!(preprocess("{% set x = 'a:' %}"), "{% set x = 'a:' %}");
    }

    #[test]
    fn dicts_keep_insertion_order_as_python() {
        let mut env = py_env();
        crate::builtins::add_serialization(&mut env);
        let r = |s: &str| render(&env, s);
        // dbt-testgen: toyaml(fromjson(tojson(d))) prints keys as inserted
        assert_eq!(
            r("{% set d = {'name': 'u', 'columns': [{'name': 'c', 'tests': ['unique']}]} %}{{ toyaml(fromjson(tojson(d))) }}"),
            "name: u\ncolumns:\n- name: c\n  tests:\n  - unique\n"
        );
        assert_eq!(r("{{ tojson({'b': 1, 'a': 2}) }}"), "{\"b\": 1, \"a\": 2}");
        assert_eq!(r("{{ dict(b=1, a=2) | list }}"), "['b', 'a']");
        // sets compare without order, as Python's
        assert_eq!(r("{{ set(['a', 'b', 'a']) == set(['b', 'a']) }}"), "True");
        assert_eq!(r("{{ set(['a', 'b']) != set(['a', 'c']) }}"), "True");
        assert_eq!(r("{{ set(['b', 'a', 'b']) | join }}"), "ba");
    }

    #[test]
    fn macro_defaults_see_earlier_parameters() {
        let env = py_env();
        let r = |s: &str| render(&env, s);
        // dbt-codegen: `generate_source(schema_name, ..., name=schema_name)`
        assert_eq!(
            r("{% macro f(a, b=a, c=a ~ 'x', d='a') %}[{{ b }}|{{ c }}|{{ d }}]{% endmacro %}{{ f(1) }}{{ f(1, 2, c=none) }}"),
            "[1|1x|a][2|None|a]"
        );
        // whitespace control after the tag still applies
        assert_eq!(
            r("{%- macro g(a, b=a) -%}\n  {{ b }}{%- endmacro -%}{{ g(3) }}"),
            "3"
        );
        assert_eq!(
            r("{% macro h(a, b=c.a) %}{{ b }}{% endmacro %}{{ h(1, 2) }}"),
            "2"
        );
        assert!(preprocess("{% macro h(a, b='a') %}{% endmacro %}").contains("b='a'"));
    }

    #[test]
    fn python_string_methods() {
        let env = py_env();
        let r = |s: &str| render(&env, s);
        // dbt-activity-schema strips punctuation this way
        assert_eq!(
            r("{% set s = 'a.b,c!' %}{{ s.translate(s.maketrans('', '', '.,!')) }}"),
            "abc"
        );
        assert_eq!(
            r("{{ 'abc'.translate('abc'.maketrans('ab', 'xy')) }}"),
            "xyc"
        );
        assert_eq!(
            r("{{ 'ab'.translate('ab'.maketrans({'a': 'AA', 'b': none})) }}"),
            "AA"
        );
        assert_eq!(r("{{ '(\\)|{ws})'.format(ws='[ ]') }}"), "(\\)|[ ])");
        assert_eq!(r("{{ '{} {0} {x} {{}}'.format('a', x=1) }}"), "a a 1 {}");
        assert_eq!(
            r("{{ '{:>5}|{:<3}|{:^5}'.format('ab', 'c', 'd') }}"),
            "   ab|c  |  d  "
        );
        assert_eq!(
            r("{{ '{:.2f} {:,} {:05d}'.format(3.14159, 1234567, -42) }}"),
            "3.14 1,234,567 -0042"
        );
        assert_eq!(r("{{ '{!r}'.format('a') }}"), "'a'");
        assert_eq!(
            r("{{ 'ab'.center(5, '*') }} {{ '7'.zfill(3) }} {{ 'x'.rjust(3) }}"),
            "**ab* 007   x"
        );
        assert_eq!(
            r("{{ 'abc'.center(6, '*') }} {{ 'a'.center(4, '*') }}"),
            "*abc** *a**"
        );
        assert_eq!(
            r("{{ 'a=b=c'.partition('=') }} {{ 'a=b=c'.rpartition('=') }}"),
            "['a', '=', 'b=c'] ['a=b', '=', 'c']"
        );
        assert_eq!(
            r("{{ 'pre_x'.removeprefix('pre_') }} {{ 'abcabc'.rfind('b') }}"),
            "x 4"
        );
        assert!(env.render_str("{{ 'a'.index('z') }}", ()).is_err());
    }

    #[test]
    fn itertools_and_random() {
        let env = py_env();
        let r = |s: &str| render(&env, s);
        assert_eq!(
            r("{{ modules.itertools.combinations(['a', 'b', 'c'], 2) }}"),
            "[['a', 'b'], ['a', 'c'], ['b', 'c']]"
        );
        assert_eq!(
            r("{{ modules.itertools.permutations([1, 2, 3], 2) | length }} {{ modules.itertools.permutations([1, 2]) }}"),
            "6 [[1, 2], [2, 1]]"
        );
        assert_eq!(
            r("{{ modules.itertools.product('ab', [1, 2]) | map('join') | join(',') }}"),
            "a1,a2,b1,b2"
        );
        assert_eq!(
            r("{{ modules.itertools.combinations_with_replacement([1, 2], 2) }}"),
            "[[1, 1], [1, 2], [2, 2]]"
        );
        assert_eq!(r("{{ modules.itertools.chain([1], [2, 3]) }}"), "[1, 2, 3]");
        // Jinja2's `random` picks one item
        for _ in 0..20 {
            let n: i64 = r("{{ range(0, 100) | random }}").parse().unwrap();
            assert!((0..100).contains(&n));
        }
        assert_eq!(r("{{ ['only'] | random }}"), "only");
        assert!(env.render_str("{{ [] | random }}", ()).is_err());
    }

    #[test]
    fn lists_given_as_test_arguments_can_change() {
        let (_d, info) = crate::testing::run_info();
        let mut env = Environment::new();
        install(&mut env, &info);
        // dbt_utils.at_least_one: `{% set pruned = group_by_columns %}`,
        // then `pruned.append(column_name)`
        let args = py_mutable(Value::from_serialize(
            serde_json::json!({"cols": ["a", "b"], "n": 1, "m": {"l": []}}),
        ));
        let src = "{% set p = args.cols %}{% do p.append('c') %}{% do args.m.l.append(1) %}\
                   {{ p }}|{{ args.cols | length }}|{{ args.cols | join(',') }}|{{ 'c' in p }}|{{ args.m.l }}|{{ args.n }}";
        let out = env
            .render_str(&preprocess(src), minijinja::context! { args => args })
            .unwrap();
        assert_eq!(out, "['a', 'b', 'c']|3|a,b,c|True|[1]|1");
    }

    #[test]
    fn sets_compare_without_order() {
        let (_d, info) = crate::testing::run_info();
        let mut env = Environment::new();
        install(&mut env, &info);
        let r = |s: &str| env.render_str(s, ()).unwrap();
        // dbt_utils.equality: two tables' column sets, in different orders
        assert_eq!(r("{{ set(['a', 'b', 'a']) == set(['b', 'a']) }}"), "True");
        assert_eq!(r("{{ set(['a', 'b']) != set(['b', 'a']) }}"), "False");
        assert_eq!(r("{{ set(['a', 'b']) == set(['a', 'c']) }}"), "False");
        assert_eq!(r("{{ set(['a']) == set(['a', 'a', 'b']) }}"), "False");
        assert_eq!(
            r("{{ set(['a', 'b', 'a']) | length }}|{{ 'b' in set(['a', 'b']) }}|{{ set(['a', 'b']) | join(',') }}"),
            "2|True|a,b"
        );
        assert_eq!(
            r("{% set s = set([]) %}{% do s.add('x') %}{% do s.add('x') %}{% do s.update(['y']) %}{{ s | join(',') }}|{{ s.difference(['x']) | join(',') }}|{{ s.issubset(['x', 'y', 'z']) }}"),
            "x,y|y|True"
        );
    }

    #[test]
    fn modules_re_and_datetime() {
        let (_d, info) = crate::testing::run_info();
        let mut env = Environment::new();
        install(&mut env, &info);
        let r = |s: &str| env.render_str(s, ()).unwrap();
        assert_eq!(r("{{ modules.re.sub('[0-9]+', 'N', 'a1b22') }}"), "aNbN");
        assert_eq!(r("{{ modules.re.match('(a)(b)?', 'ac').group(1) }}"), "a");
        assert_eq!(r("{{ modules.re.search('x', 'abc') is none }}"), "True");
        assert_eq!(r("{{ modules.re.findall('[a-z]', 'a1b') }}"), "['a', 'b']");
        // braces that open no repetition are literal, as in Python
        assert_eq!(
            r("{{ modules.re.search('^.*{{\\s*config\\s*\\([^)]+\\)\\s*}}', 'x {{ config(a=1) }} y') is not none }}"),
            "True"
        );
        assert_eq!(
            r("{{ modules.re.findall('a{2}|b{,1}c', 'aaa bc') }}"),
            "['aa', 'bc']"
        );
        assert_eq!(py_pattern("a{2,}{x}[{]\\{", 0).0, "a{2,}\\{x\\}[{]\\{");
        // dbt-codegen: a verbose pattern with comments, literal `{{`, a
        // space in a class and a look-ahead
        let verbose = "(?ix)\n  # from or join\n  (from|join)\\s+\n  # quote\n  ([\\[`\"']?)\n  ([\\w ]+)(?=\\s|$)  # end\n";
        assert_eq!(
            env.render_str(
                "{{ modules.re.findall(p, 'select * FROM [my table] \nJOIN xy z') }}",
                minijinja::context! { p => verbose }
            )
            .unwrap(),
            "[['FROM', '[', 'my'], ['JOIN', '', 'xy z']]"
        );
        assert_eq!(
            r("{{ modules.re.search('(?i)(?s)^.*{{\\s*config\\s*\\(', 'x\n{{ CONFIG(') is not none }}"),
            "True"
        );
        // back-references and named groups
        assert_eq!(r("{{ modules.re.sub('(a)\\\\1', 'X', 'aab') }}"), "Xb");
        assert_eq!(
            r("{{ modules.re.search('(?P<w>o+)(?P=w)', 'foooob').group('w') }}"),
            "oo"
        );
        // Python's split keeps the groups; fullmatch tries every alternative
        assert_eq!(r("{{ modules.re.split('(,)', 'a,b') }}"), "['a', ',', 'b']");
        assert_eq!(r("{{ modules.re.split(',', 'a,b,c', 1) }}"), "['a', 'b,c']");
        assert_eq!(
            r("{{ modules.re.fullmatch('a|ab', 'ab') is not none }}"),
            "True"
        );
        assert_eq!(r("{{ modules.re.match('b', 'ab') is none }}"), "True");
        assert_eq!(r("{{ modules.re.sub('a', 'b', 'aaa', 2) }}"), "bba");
        assert_eq!(r("{{ modules.re.compile('b+').match('bbc').end() }}"), "2");
        // look-behind, look-ahead and verbose mode with comments, as Python's re
        assert_eq!(
            r("{{ modules.re.findall('(?ix) (?<!distinct\\s) (from|join)\\s+ # kw\n (\\w+)(?=\\s|$)', 'select distinct from x from t join u') }}"),
            "[['from', 't'], ['join', 'u']]"
        );
        assert_eq!(r(r"{{ modules.re.sub('(a)\\1', 'D', 'aab') }}"), "Db");
        assert_eq!(
            r("{{ modules.re.sub('(a)', '<\\\\1>', 'xa', flags=modules.re.I) }}"),
            "x<a>"
        );
        assert_eq!(
            r("{{ modules.datetime.date(2024, 1, 31).strftime('%Y%m%d') }}"),
            "20240131"
        );
        assert_eq!(
            r("{{ modules.datetime.datetime(2024, 1, 31, 5) }}"),
            "2024-01-31 05:00:00"
        );
        assert_eq!(
            r("{{ modules.datetime.datetime.strptime('2024-02-01', '%Y-%m-%d').day }}"),
            "1"
        );
        assert_eq!(
            r("{{ modules.datetime.timedelta(days=2) }}"),
            "2 days, 0:00:00"
        );
        assert_eq!(
            r("{{ api.Relation.create(database='d', schema='s', identifier='t') }}"),
            "\"d\".\"s\".\"t\""
        );
        assert_eq!(r("{{ zip([1, 2], ['a', 'b']) }}"), "[[1, 'a'], [2, 'b']]");
        assert_eq!(r("{{ set([1, 1, 2]) | length }}"), "2");
        assert_eq!(r("{{ api.Column.translate_type('string') }}"), "TEXT");
    }
}

/// A list that `append`/`extend`/`pop`/`insert`/`remove` change in place,
/// as Python's: `{% set x = [] %}` makes one (see [`preprocess`]).
#[derive(Debug, Default)]
pub struct PyList(pub std::sync::Mutex<Vec<Value>>);

impl PyList {
    fn items(&self) -> Vec<Value> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Object for PyList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = self.items();
        let i = key.as_i64()?;
        let i = if i < 0 { items.len() as i64 + i } else { i };
        items.get(usize::try_from(i).ok()?).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.items())
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let mut v = self.0.lock().map_err(|_| err("list lock poisoned"))?;
        match m {
            "append" => {
                v.push(args.first().cloned().unwrap_or_default());
                Ok(Value::from(()))
            }
            "extend" => {
                if let Some(a) = args.first() {
                    v.extend(a.try_iter()?);
                }
                Ok(Value::from(()))
            }
            "insert" => {
                let i = args.first().and_then(|a| a.as_i64()).unwrap_or(0).max(0) as usize;
                let x = args.get(1).cloned().unwrap_or_default();
                let i = i.min(v.len());
                v.insert(i, x);
                Ok(Value::from(()))
            }
            "pop" => {
                let n = v.len() as i64;
                let i = args.first().and_then(|a| a.as_i64()).unwrap_or(-1);
                let i = if i < 0 { n + i } else { i };
                if i < 0 || i >= n {
                    return Err(err("pop index out of range"));
                }
                Ok(v.remove(i as usize))
            }
            "remove" => {
                let x = args.first().cloned().unwrap_or_default();
                match v.iter().position(|y| *y == x) {
                    Some(p) => {
                        v.remove(p);
                        Ok(Value::from(()))
                    }
                    None => Err(err("list.remove(x): x not in list")),
                }
            }
            "index" => {
                let x = args.first().cloned().unwrap_or_default();
                v.iter()
                    .position(|y| *y == x)
                    .map(Value::from)
                    .ok_or_else(|| err("x is not in list"))
            }
            "count" => {
                let x = args.first().cloned().unwrap_or_default();
                Ok(Value::from(v.iter().filter(|y| **y == x).count()))
            }
            "copy" => Ok(Value::from(v.clone())),
            "clear" => {
                v.clear();
                Ok(Value::from(()))
            }
            "reverse" => {
                v.reverse();
                Ok(Value::from(()))
            }
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

fn push_unique(out: &mut Vec<Value>, items: impl Iterator<Item = Value>) {
    for x in items {
        if !out.contains(&x) {
            out.push(x);
        }
    }
}

/// Python's `set` (dbt's `set()`/`set_strict()`): a sequence of distinct
/// values (in the order first seen) that equals another set holding the
/// same values in any order, as dbt_utils' `equality` test compares two
/// tables' column sets; `add`/`update` change it in place.
#[derive(Debug, Default)]
pub struct PySet(pub std::sync::Mutex<Vec<Value>>);

impl PySet {
    fn value(items: Vec<Value>) -> Value {
        Value::from_object(PySet(std::sync::Mutex::new(items)))
    }
    fn items(&self) -> Vec<Value> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Object for PySet {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        None
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.items())
    }
    fn custom_cmp(
        self: &Arc<Self>,
        other: &minijinja::value::DynObject,
    ) -> Option<std::cmp::Ordering> {
        let other = other.downcast_ref::<Self>()?;
        let (mut a, mut b) = (self.items(), other.items());
        a.sort();
        b.sort();
        Some(a.cmp(&b))
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let mine = self.items();
        let arg_items = |i: usize| -> Result<Vec<Value>, JError> {
            match args.get(i) {
                Some(a) => Ok(a.try_iter()?.collect()),
                None => Ok(vec![]),
            }
        };
        match m {
            "add" => {
                let mut v = self.0.lock().map_err(|_| err("set lock poisoned"))?;
                push_unique(&mut v, args.first().cloned().into_iter());
                Ok(Value::from(()))
            }
            "update" => {
                let mut all = vec![];
                for i in 0..args.len() {
                    all.extend(arg_items(i)?);
                }
                let mut v = self.0.lock().map_err(|_| err("set lock poisoned"))?;
                push_unique(&mut v, all.into_iter());
                Ok(Value::from(()))
            }
            "discard" | "remove" => {
                let x = args.first().cloned().unwrap_or_default();
                let mut v = self.0.lock().map_err(|_| err("set lock poisoned"))?;
                match v.iter().position(|y| *y == x) {
                    Some(p) => {
                        v.remove(p);
                    }
                    None if m == "remove" => return Err(err(format!("KeyError: {}", py_repr(&x)))),
                    None => {}
                }
                Ok(Value::from(()))
            }
            "union" => {
                let mut out = mine;
                for i in 0..args.len() {
                    push_unique(&mut out, arg_items(i)?.into_iter());
                }
                Ok(PySet::value(out))
            }
            "intersection" | "difference" => {
                let other = arg_items(0)?;
                let keep = m == "intersection";
                Ok(PySet::value(
                    mine.into_iter()
                        .filter(|x| other.contains(x) == keep)
                        .collect(),
                ))
            }
            "symmetric_difference" => {
                let other = arg_items(0)?;
                let mut out: Vec<Value> = mine
                    .iter()
                    .filter(|x| !other.contains(x))
                    .cloned()
                    .collect();
                push_unique(&mut out, other.into_iter().filter(|x| !mine.contains(x)));
                Ok(PySet::value(out))
            }
            "issubset" => {
                let other = arg_items(0)?;
                Ok(Value::from(mine.iter().all(|x| other.contains(x))))
            }
            "issuperset" => {
                let other = arg_items(0)?;
                Ok(Value::from(other.iter().all(|x| mine.contains(x))))
            }
            "isdisjoint" => {
                let other = arg_items(0)?;
                Ok(Value::from(!mine.iter().any(|x| other.contains(x))))
            }
            "copy" => Ok(PySet::value(mine)),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A dict that `update`/`pop`/`setdefault` change in place (`{% set d = {} %}`).
#[derive(Debug, Default)]
pub struct PyDict(pub std::sync::Mutex<indexmap::IndexMap<Value, Value>>);

impl PyDict {
    fn snapshot(&self) -> indexmap::IndexMap<Value, Value> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Object for PyDict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.lock().ok()?.get(key).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.snapshot().keys().cloned().collect())
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let Args { pos, kwargs: kw } = Args::new(args);
        let mut d = self.0.lock().map_err(|_| err("dict lock poisoned"))?;
        match m {
            "update" => {
                if let Some(o) = pos.first() {
                    for k in o.try_iter()? {
                        let v = o.get_item(&k)?;
                        d.insert(k, v);
                    }
                }
                if let Some(kw) = kw {
                    for k in kw.try_iter()? {
                        let v = kw.get_item(&k)?;
                        d.insert(k, v);
                    }
                }
                Ok(Value::from(()))
            }
            "pop" => {
                let k = pos.first().cloned().unwrap_or_default();
                match d.shift_remove(&k) {
                    Some(v) => Ok(v),
                    None => pos
                        .get(1)
                        .cloned()
                        .ok_or_else(|| err(format!("KeyError: {k}"))),
                }
            }
            "setdefault" => {
                let k = pos.first().cloned().unwrap_or_default();
                let v = pos.get(1).cloned().unwrap_or(Value::from(()));
                Ok(d.entry(k).or_insert(v).clone())
            }
            "clear" => {
                d.clear();
                Ok(Value::from(()))
            }
            _ => {
                drop(d);
                dict_method(&Value::from_dyn_object(self.clone()), m, args)
                    .unwrap_or_else(|| Err(JError::from(ErrorKind::UnknownMethod)))
            }
        }
    }
}

/// The default of a macro parameter whose real default reads an earlier
/// parameter (see [`late_bound_defaults`]).
#[derive(Debug)]
struct Unset;

impl Object for Unset {}

/// A copy of a list or dict literal (and the literals nested in it) that
/// can change in place as Python's can; other values are returned as they
/// are (see [`preprocess`]).
pub fn py_mutable(v: Value) -> Value {
    if v.downcast_object_ref::<PyList>().is_some() || v.downcast_object_ref::<PyDict>().is_some() {
        return v;
    }
    if let Some(items) = v.downcast_object_ref::<Vec<Value>>() {
        let items = items.iter().cloned().map(py_mutable).collect();
        return Value::from_object(PyList(std::sync::Mutex::new(items)));
    }
    let pairs: Option<Vec<(Value, Value)>> =
        if let Some(m) = v.downcast_object_ref::<BTreeMap<Value, Value>>() {
            Some(m.iter().map(|(k, x)| (k.clone(), x.clone())).collect())
        } else {
            v.downcast_object_ref::<indexmap::IndexMap<Value, Value>>()
                .map(|m| m.iter().map(|(k, x)| (k.clone(), x.clone())).collect())
        };
    match pairs {
        Some(pairs) => Value::from_object(PyDict(std::sync::Mutex::new(
            pairs.into_iter().map(|(k, x)| (k, py_mutable(x))).collect(),
        ))),
        None => v,
    }
}

/// Python's `dict(mapping_or_pairs, **kwargs)`, as a [`PyDict`].
fn py_dict_call(args: minijinja::value::Rest<Value>) -> Result<Value, JError> {
    let Args { pos, kwargs } = Args::new(&args);
    if pos.len() > 1 {
        return Err(err(format!(
            "dict expected at most 1 argument, got {}",
            pos.len()
        )));
    }
    let mut d = indexmap::IndexMap::new();
    if let Some(src) = pos.first() {
        match src.kind() {
            ValueKind::Undefined | ValueKind::None => {}
            ValueKind::Map => {
                for k in src.try_iter()? {
                    let v = src.get_item(&k)?;
                    d.insert(k, v);
                }
            }
            ValueKind::Seq | ValueKind::Iterable => {
                for pair in src.try_iter()? {
                    let kv: Vec<Value> = pair.try_iter()?.collect();
                    let [k, v] = <[Value; 2]>::try_from(kv).map_err(|kv| {
                        err(format!(
                            "dictionary update sequence element has length {}; 2 is required",
                            kv.len()
                        ))
                    })?;
                    d.insert(k, v);
                }
            }
            _ => return Err(err(format!("cannot convert {src} to a dict"))),
        }
    }
    if let Some(kw) = kwargs {
        for k in kw.try_iter()? {
            let v = kw.get_item(&k)?;
            d.insert(k, v);
        }
    }
    Ok(Value::from_object(PyDict(std::sync::Mutex::new(d))))
}

/// Jinja2's `random` filter: a random item of a sequence (or character of a
/// string), as Python's `random.choice`.
fn py_random(v: Value) -> Result<Value, JError> {
    use rand::Rng;
    let items: Vec<Value> = match v.as_str() {
        Some(s) => s.chars().map(|c| Value::from(c.to_string())).collect(),
        None => v.try_iter()?.collect(),
    };
    if items.is_empty() {
        return Err(err("random: cannot choose from an empty sequence"));
    }
    let i = rand::rng().random_range(0..items.len());
    Ok(items[i].clone())
}

/// Python's read-only dict methods on any mapping.
fn dict_method(v: &Value, m: &str, args: &[Value]) -> Option<Result<Value, JError>> {
    let keys = || -> Result<Vec<Value>, JError> { Ok(v.try_iter()?.collect()) };
    Some(match m {
        "items" => keys().map(|ks| {
            Value::from(
                ks.into_iter()
                    .map(|k| {
                        let val = v.get_item(&k).unwrap_or_default();
                        Value::from(vec![k, val])
                    })
                    .collect::<Vec<_>>(),
            )
        }),
        "keys" => keys().map(Value::from),
        "values" => keys().map(|ks| {
            Value::from(
                ks.into_iter()
                    .map(|k| v.get_item(&k).unwrap_or_default())
                    .collect::<Vec<_>>(),
            )
        }),
        "get" => {
            let k = args.first().cloned().unwrap_or_default();
            Ok(match v.get_item(&k) {
                Ok(x) if !x.is_undefined() => x,
                _ => args.get(1).cloned().unwrap_or(Value::from(())),
            })
        }
        "copy" => keys().map(|ks| {
            let d = PyDict::default();
            if let Ok(mut g) = d.0.lock() {
                for k in ks {
                    let val = v.get_item(&k).unwrap_or_default();
                    g.insert(k, val);
                }
            }
            Value::from_object(d)
        }),
        _ => return None,
    })
}

/// Python's `str` methods.
fn str_method(s: &str, m: &str, args: &[Value]) -> Option<Result<Value, JError>> {
    let a = |i: usize| args.get(i).and_then(|x| x.as_str().map(String::from));
    Some(Ok(match m {
        "upper" => Value::from(s.to_uppercase()),
        "lower" => Value::from(s.to_lowercase()),
        "strip" => Value::from(match a(0) {
            Some(c) => s.trim_matches(|x| c.contains(x)).to_string(),
            None => s.trim().to_string(),
        }),
        "lstrip" => Value::from(match a(0) {
            Some(c) => s.trim_start_matches(|x| c.contains(x)).to_string(),
            None => s.trim_start().to_string(),
        }),
        "rstrip" => Value::from(match a(0) {
            Some(c) => s.trim_end_matches(|x| c.contains(x)).to_string(),
            None => s.trim_end().to_string(),
        }),
        "split" => {
            let max = args.get(1).and_then(|x| x.as_i64());
            let parts: Vec<String> = match (a(0), max) {
                (Some(sep), Some(n)) if n >= 0 => s
                    .splitn(n as usize + 1, sep.as_str())
                    .map(String::from)
                    .collect(),
                (Some(sep), _) => s.split(sep.as_str()).map(String::from).collect(),
                (None, _) => s.split_whitespace().map(String::from).collect(),
            };
            Value::from(parts)
        }
        "rsplit" => {
            let sep = a(0).unwrap_or_else(|| " ".into());
            let max = args.get(1).and_then(|x| x.as_i64()).unwrap_or(-1);
            let mut parts: Vec<String> = if max >= 0 {
                s.rsplitn(max as usize + 1, sep.as_str())
                    .map(String::from)
                    .collect()
            } else {
                s.rsplit(sep.as_str()).map(String::from).collect()
            };
            parts.reverse();
            Value::from(parts)
        }
        "replace" => Value::from(s.replace(&a(0).unwrap_or_default(), &a(1).unwrap_or_default())),
        "startswith" | "endswith" => {
            // Python takes one affix or a tuple of them
            let has = |p: &str| {
                if m == "startswith" {
                    s.starts_with(p)
                } else {
                    s.ends_with(p)
                }
            };
            Value::from(match args.first() {
                Some(x) if x.kind() == ValueKind::Seq => x
                    .try_iter()
                    .map(|mut it| it.any(|p| p.as_str().is_some_and(has)))
                    .unwrap_or(false),
                _ => has(&a(0).unwrap_or_default()),
            })
        }
        "find" => Value::from(
            s.find(&a(0).unwrap_or_default())
                .map(|i| s[..i].chars().count() as i64)
                .unwrap_or(-1),
        ),
        "count" => Value::from(s.matches(&a(0).unwrap_or_default()).count()),
        "join" => {
            let items: Vec<String> = match args.first() {
                Some(x) => match x.try_iter() {
                    Ok(it) => it.map(|v| v.to_string()).collect(),
                    Err(e) => return Some(Err(e)),
                },
                None => vec![],
            };
            Value::from(items.join(s))
        }
        "title" => Value::from(
            s.split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    match c.next() {
                        Some(f) => {
                            f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase()
                        }
                        None => String::new(),
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "capitalize" => {
            let mut c = s.chars();
            Value::from(match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase(),
                None => String::new(),
            })
        }
        "isdigit" => Value::from(!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())),
        "isalpha" => Value::from(!s.is_empty() && s.chars().all(|c| c.is_alphabetic())),
        "isupper" => Value::from(
            s.chars().any(|c| c.is_alphabetic()) && !s.chars().any(|c| c.is_lowercase()),
        ),
        "islower" => Value::from(
            s.chars().any(|c| c.is_alphabetic()) && !s.chars().any(|c| c.is_uppercase()),
        ),
        _ => return str_method_more(s, m, args),
    }))
}

/// More of Python's `str` methods: those that can fail, and the rarer ones.
fn str_method_more(s: &str, m: &str, args: &[Value]) -> Option<Result<Value, JError>> {
    let a = |i: usize| args.get(i).and_then(|x| x.as_str().map(String::from));
    let chars = || s.chars().count();
    // `s.center(width[, fill])` and friends
    let pad = |left: bool, right: bool| -> Result<Value, JError> {
        let width = args.first().and_then(|w| w.as_i64()).unwrap_or(0).max(0) as usize;
        let fill = a(1).and_then(|f| f.chars().next()).unwrap_or(' ');
        let n = width.saturating_sub(chars());
        let (l, r) = match (left, right) {
            (true, true) => {
                // Python's center: the odd fill character goes left when
                // the width is odd
                let l = n / 2 + (n & width & 1);
                (l, n - l)
            }
            (true, false) => (n, 0),
            _ => (0, n),
        };
        let f = |k: usize| std::iter::repeat_n(fill, k).collect::<String>();
        Ok(Value::from(format!("{}{s}{}", f(l), f(r))))
    };
    Some(match m {
        "format" => py_format(s, args).map(Value::from),
        "maketrans" => py_maketrans(args),
        "translate" => match args.first() {
            Some(table) => py_translate(s, table).map(Value::from),
            None => Err(err("translate() takes exactly one argument (0 given)")),
        },
        "center" => pad(true, true),
        "rjust" => pad(true, false),
        "ljust" => pad(false, true),
        "zfill" => {
            let width = args.first().and_then(|w| w.as_i64()).unwrap_or(0).max(0) as usize;
            let n = width.saturating_sub(chars());
            let (sign, digits) = match s.chars().next() {
                Some(c @ ('+' | '-')) => (c.to_string(), &s[1..]),
                _ => (String::new(), s),
            };
            Ok(Value::from(format!("{sign}{}{digits}", "0".repeat(n))))
        }
        "partition" | "rpartition" => {
            let sep = a(0).unwrap_or_default();
            if sep.is_empty() {
                return Some(Err(err("empty separator")));
            }
            let found = if m == "partition" {
                s.find(&sep)
            } else {
                s.rfind(&sep)
            };
            Ok(Value::from(match found {
                Some(i) => vec![
                    s[..i].to_string(),
                    sep.clone(),
                    s[i + sep.len()..].to_string(),
                ],
                None if m == "partition" => vec![s.to_string(), String::new(), String::new()],
                None => vec![String::new(), String::new(), s.to_string()],
            }))
        }
        "splitlines" => Ok(Value::from(s.lines().map(String::from).collect::<Vec<_>>())),
        "swapcase" => Ok(Value::from(
            s.chars()
                .flat_map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<Vec<_>>()
                    } else {
                        c.to_uppercase().collect::<Vec<_>>()
                    }
                })
                .collect::<String>(),
        )),
        "casefold" => Ok(Value::from(s.to_lowercase())),
        "rfind" => Ok(Value::from(
            s.rfind(&a(0).unwrap_or_default())
                .map(|i| s[..i].chars().count() as i64)
                .unwrap_or(-1),
        )),
        "index" | "rindex" => {
            let sub = a(0).unwrap_or_default();
            let found = if m == "index" {
                s.find(&sub)
            } else {
                s.rfind(&sub)
            };
            found
                .map(|i| Value::from(s[..i].chars().count()))
                .ok_or_else(|| err("substring not found"))
        }
        "removeprefix" => {
            let p = a(0).unwrap_or_default();
            Ok(Value::from(s.strip_prefix(p.as_str()).unwrap_or(s)))
        }
        "removesuffix" => {
            let p = a(0).unwrap_or_default();
            Ok(Value::from(s.strip_suffix(p.as_str()).unwrap_or(s)))
        }
        "isalnum" => Ok(Value::from(
            !s.is_empty() && s.chars().all(|c| c.is_alphanumeric()),
        )),
        "isspace" => Ok(Value::from(
            !s.is_empty() && s.chars().all(|c| c.is_whitespace()),
        )),
        "isnumeric" | "isdecimal" => Ok(Value::from(
            !s.is_empty() && s.chars().all(|c| c.is_numeric()),
        )),
        "isidentifier" => Ok(Value::from(
            s.chars()
                .next()
                .is_some_and(|c| c == '_' || c.is_alphabetic())
                && s.chars().all(|c| c == '_' || c.is_alphanumeric()),
        )),
        "istitle" => {
            let words: Vec<&str> = s
                .split(|c: char| !c.is_alphabetic())
                .filter(|w| !w.is_empty())
                .collect();
            Ok(Value::from(
                !words.is_empty()
                    && words.iter().all(|w| {
                        let mut c = w.chars();
                        c.next().is_some_and(|f| f.is_uppercase()) && c.all(|x| x.is_lowercase())
                    }),
            ))
        }
        "encode" => Ok(Value::from(s)),
        _ => return None,
    })
}

/// Python's `str.maketrans(x[, y[, z]])`: a dict from code points to their
/// replacement (a string, or `None` to delete the character).
fn py_maketrans(args: &[Value]) -> Result<Value, JError> {
    let mut table: BTreeMap<i64, Value> = BTreeMap::new();
    let cp = |c: char| c as i64;
    match args {
        [d] if d.kind() == ValueKind::Map => {
            for k in d.try_iter()? {
                let v = d.get_item(&k)?;
                let key = match k.as_str() {
                    Some(s) if s.chars().count() == 1 => s.chars().next().map(cp).unwrap_or(0),
                    Some(_) => {
                        return Err(err("string keys in translate table must be of length 1"))
                    }
                    None => k.as_i64().ok_or_else(|| {
                        err("keys in translate table must be strings or integers")
                    })?,
                };
                table.insert(key, v);
            }
        }
        [x, y, rest @ ..] if rest.len() <= 1 => {
            let (x, y) = (x.to_string(), y.to_string());
            if x.chars().count() != y.chars().count() {
                return Err(err(
                    "the first two maketrans arguments must have equal length",
                ));
            }
            for (a, b) in x.chars().zip(y.chars()) {
                table.insert(cp(a), Value::from(b.to_string()));
            }
            if let Some(z) = rest.first() {
                for c in z.to_string().chars() {
                    table.insert(cp(c), Value::from(()));
                }
            }
        }
        _ => return Err(err("maketrans takes a dict, or two or three strings")),
    }
    Ok(Value::from_iter(table))
}

/// Python's `str.translate(table)`: each character whose code point the
/// table maps is replaced by the mapped string or code point, or deleted
/// when it maps to `None`.
fn py_translate(s: &str, table: &Value) -> Result<String, JError> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let to = table.get_item(&Value::from(c as i64))?;
        match to.kind() {
            ValueKind::Undefined => out.push(c),
            ValueKind::None => {}
            ValueKind::Number => {
                let n = to.as_i64().and_then(|n| u32::try_from(n).ok());
                out.push(n.and_then(char::from_u32).ok_or_else(|| {
                    err(format!(
                        "character mapping must be in range(0x110000), not {to}"
                    ))
                })?);
            }
            _ => out.push_str(&to.to_string()),
        }
    }
    Ok(out)
}

/// Python's `str.format`: `{}`, `{0}` and `{name}` fields (with `!r`/`!s`
/// and a format spec), `{{`/`}}` for literal braces.
fn py_format(s: &str, args: &[Value]) -> Result<String, JError> {
    let Args { pos, kwargs } = Args::new(args);
    let mut out = String::new();
    let mut auto = 0usize;
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '{' if it.peek() == Some(&'{') => {
                it.next();
                out.push('{');
            }
            '}' if it.peek() == Some(&'}') => {
                it.next();
                out.push('}');
            }
            '}' => return Err(err("Single '}' encountered in format string")),
            '{' => {
                let mut field = String::new();
                let mut depth = 1;
                for c in it.by_ref() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    field.push(c);
                }
                if depth != 0 {
                    return Err(err("Single '{' encountered in format string"));
                }
                let (head, spec) = match field.split_once(':') {
                    Some((h, sp)) => (h, sp),
                    None => (field.as_str(), ""),
                };
                let (name, conv) = match head.split_once('!') {
                    Some((n, cv)) => (n, cv),
                    None => (head, ""),
                };
                let (base, attrs) = match name.find(['.', '[']) {
                    Some(i) => (&name[..i], &name[i..]),
                    None => (name, ""),
                };
                let mut v = if base.is_empty() {
                    auto += 1;
                    pos.get(auto - 1).cloned().ok_or_else(|| {
                        err("Replacement index out of range for positional args tuple")
                    })?
                } else if let Ok(i) = base.parse::<usize>() {
                    pos.get(i).cloned().ok_or_else(|| {
                        err("Replacement index out of range for positional args tuple")
                    })?
                } else {
                    kwargs
                        .and_then(|k| k.get_attr(base).ok())
                        .filter(|v| !v.is_undefined())
                        .ok_or_else(|| err(format!("KeyError: '{base}'")))?
                };
                for part in attrs.split_inclusive(['.', '[']).filter(|p| !p.is_empty()) {
                    let part = part.trim_end_matches(['.', '[']).trim_end_matches(']');
                    if part.is_empty() {
                        continue;
                    }
                    v = match part.parse::<i64>() {
                        Ok(i) => v.get_item(&Value::from(i))?,
                        Err(_) => v.get_attr(part)?,
                    };
                }
                let text = match conv {
                    "r" => py_repr(&v),
                    _ => py_str(&v),
                };
                out.push_str(&py_format_spec(&v, text, spec)?);
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Python's format-spec mini-language for one field: `[[fill]align][sign]
/// [,][0][width][.precision][type]`, enough of it for numbers and text.
fn py_format_spec(v: &Value, text: String, spec: &str) -> Result<String, JError> {
    if spec.is_empty() {
        return Ok(text);
    }
    static SPEC: std::sync::OnceLock<Result<regex::Regex, regex::Error>> =
        std::sync::OnceLock::new();
    let re = SPEC
        .get_or_init(|| {
            regex::Regex::new(
                r"^(?:(.)?([<>^=]))?([+\- ])?(,)?(0)?(\d+)?(?:\.(\d+))?([bcdeEfFgGnosxX%])?$",
            )
        })
        .as_ref()
        .map_err(|e| err(e.to_string()))?;
    let c = re
        .captures(spec)
        .ok_or_else(|| err(format!("Invalid format specifier '{spec}'")))?;
    let fill = c.get(1).and_then(|m| m.as_str().chars().next());
    let align = c.get(2).map(|m| m.as_str());
    let sign = c.get(3).map(|m| m.as_str()).unwrap_or("-");
    let comma = c.get(4).is_some();
    let zero = c.get(5).is_some();
    let width: usize = c.get(6).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
    let prec: Option<usize> = c.get(7).and_then(|m| m.as_str().parse().ok());
    let ty = c.get(8).map(|m| m.as_str()).unwrap_or("");
    let is_num = v.kind() == ValueKind::Number;
    let mut body = if is_num {
        let f = f64::try_from(v.clone()).unwrap_or(0.0);
        let int = v.as_i64();
        let mut t = match (ty, prec) {
            ("f" | "F", p) => format!("{:.*}", p.unwrap_or(6), f.abs()),
            ("%", p) => format!("{:.*}%", p.unwrap_or(6), (f * 100.0).abs()),
            ("e" | "E", p) => {
                let e = format!("{:.*e}", p.unwrap_or(6), f.abs());
                let (m, x) = e.split_once('e').unwrap_or((&e, "0"));
                let x: i32 = x.parse().unwrap_or(0);
                let e = format!("{m}e{}{:02}", if x < 0 { '-' } else { '+' }, x.abs());
                if ty == "E" {
                    e.to_uppercase()
                } else {
                    e
                }
            }
            ("d" | "n", _) => int
                .map(|i| i.unsigned_abs().to_string())
                .ok_or_else(|| err("Unknown format code 'd' for object of type 'float'"))?,
            ("x" | "X" | "o" | "b", _) => {
                let i =
                    int.ok_or_else(|| err(format!("Unknown format code '{ty}' for a float")))?;
                let u = i.unsigned_abs();
                match ty {
                    "x" => format!("{u:x}"),
                    "X" => format!("{u:X}"),
                    "o" => format!("{u:o}"),
                    _ => format!("{u:b}"),
                }
            }
            (_, Some(p)) if int.is_none() || matches!(ty, "g" | "G") => {
                format!("{:.*}", p, f.abs())
            }
            _ => match int {
                Some(i) => i.unsigned_abs().to_string(),
                None => py_float(f.abs()),
            },
        };
        if comma {
            let (ip, rest) = match t.find(|c: char| !c.is_ascii_digit()) {
                Some(i) => (t[..i].to_string(), t[i..].to_string()),
                None => (t.clone(), String::new()),
            };
            let mut grouped = String::new();
            for (n, ch) in ip.chars().enumerate() {
                if n > 0 && (ip.len() - n) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(ch);
            }
            t = grouped + &rest;
        }
        let negative = f < 0.0 || int.is_some_and(|i| i < 0);
        let sign_text = match (negative, sign) {
            (true, _) => "-",
            (false, "+") => "+",
            (false, " ") => " ",
            _ => "",
        };
        (sign_text.to_string(), t)
    } else {
        let t = match prec {
            Some(p) => text.chars().take(p).collect(),
            None => text,
        };
        (String::new(), t)
    };
    let len = body.0.chars().count() + body.1.chars().count();
    let n = width.saturating_sub(len);
    let (fill, align) = match (fill, align, zero) {
        (f, Some(a), _) => (f.unwrap_or(' '), a),
        (_, None, true) if is_num => ('0', "="),
        (_, None, _) => (' ', if is_num { ">" } else { "<" }),
    };
    let f = |k: usize| std::iter::repeat_n(fill, k).collect::<String>();
    Ok(match align {
        "<" => format!("{}{}{}", body.0, body.1, f(n)),
        ">" => format!("{}{}{}", f(n), body.0, body.1),
        "^" => format!("{}{}{}{}", f(n / 2), body.0, body.1, f(n - n / 2)),
        _ => {
            body.0.push_str(&f(n));
            format!("{}{}", body.0, body.1)
        }
    })
}

/// Python methods on minijinja's own values (`d.items()`, `s.upper()`, ...).
pub fn unknown_method(
    _state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, JError> {
    let found = match value.kind() {
        ValueKind::String => str_method(value.as_str().unwrap_or_default(), method, args),
        ValueKind::Map => dict_method(value, method, args).or_else(|| match method {
            "update" | "pop" | "popitem" | "setdefault" | "clear" => Some(Err(err(format!(
                "dict.{method}(): this dict cannot change; Tarmac makes dicts changeable when they are created with {{% set name = {{...}} %}} or dict(...)"
            )))),
            _ => None,
        }),
        ValueKind::Seq => match method {
            "count" => {
                let x = args.first().cloned().unwrap_or_default();
                Some(Ok(Value::from(
                    value.try_iter().map(|it| it.filter(|y| *y == x).count()).unwrap_or(0),
                )))
            }
            "index" => {
                let x = args.first().cloned().unwrap_or_default();
                Some(
                    value
                        .try_iter()
                        .ok()
                        .and_then(|mut it| it.position(|y| y == x))
                        .map(Value::from)
                        .ok_or_else(|| err("x is not in list")),
                )
            }
            "copy" => Some(Ok(value.clone())),
            "append" | "extend" | "insert" | "pop" | "remove" => Some(Err(err(format!(
                "list.{method}(): this list cannot change; Tarmac makes lists changeable when they are created with {{% set name = [] %}}"
            )))),
            _ => None,
        },
        _ => None,
    };
    found.unwrap_or_else(|| Err(JError::from(ErrorKind::UnknownMethod)))
}

/// Rewrite templates so that they behave as Jinja2 on Python does where
/// minijinja differs:
/// - `{% set x = [] %}`, `{% set x = {'a': 1} %}`, `{% set d = dict(...) %}`:
///   the new list or dict can change in place (`x.append(...)`,
///   `x.update(...)`), as in Python; minijinja's own literals are immutable,
///   so a literal assigned by `set` is wrapped in a call that copies it into
///   a [`PyList`] / [`PyDict`];
/// - `{% if x > 0: %}`, `{% for x in y: %}`, `{% else: %}`: Jinja2 skips a
///   colon after a block tag's expression "for Python compatibility", and
///   real packages write it.
pub fn preprocess(src: &str) -> std::borrow::Cow<'_, str> {
    match crate::pydatetime::rewrite_timedelta_ops(src) {
        std::borrow::Cow::Borrowed(s) => preprocess_literals(s),
        std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(preprocess_literals(&s).into_owned()),
    }
}

fn preprocess_literals(src: &str) -> std::borrow::Cow<'_, str> {
    static RE: std::sync::OnceLock<Option<(regex::Regex, regex::Regex)>> =
        std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        Some((
            regex::Regex::new(r"\{%[-+]?\s*set\s+[A-Za-z_][A-Za-z0-9_.]*\s*=\s*[\[{]").ok()?,
            regex::Regex::new(r"\[\s*\]|\{\s*\}").ok()?,
        ))
    });
    let Some((set_re, empty_re)) = re else {
        return std::borrow::Cow::Borrowed(src);
    };
    let has_colon_tag = src.contains(":%}")
        || src.contains(": %}")
        || src.contains(":-%}")
        || src.contains(": -%}");
    let has_empty = empty_re.is_match(src);
    let has_macro = src.contains("macro");
    if !src.contains("set") && !has_empty && !has_colon_tag && !has_macro {
        return std::borrow::Cow::Borrowed(src);
    }
    let mut out = wrap_set_literals(src, set_re);
    // an empty `[]`/`{}` anywhere in a statement is a new list or dict the
    // template may change: `{% do d.update({k: []}) %}` then
    // `d[k].append(x)` (dbt_utils.union_relations), `{% set t =
    // cfg.get('types', {}) %}` then `t.update(...)`
    if has_empty || has_colon_tag || has_macro {
        let mut in_raw = false;
        let text = out.as_str();
        let rewritten = crate::blocks::rewrite(text, |t| {
            if in_raw {
                in_raw = t.keyword != "endraw";
                return None;
            }
            if t.keyword == "raw" {
                in_raw = true;
                return None;
            }
            let tag = t.text(text);
            let new = strip_block_colon(tag);
            let new = if empty_re.is_match(&new) {
                changeable_empty_literals(&new)
            } else {
                new.into_owned()
            };
            let new = if t.keyword == "macro" {
                late_bound_defaults(&new).unwrap_or(new)
            } else {
                new
            };
            (new != tag).then_some(new)
        });
        if let std::borrow::Cow::Owned(o) = rewritten {
            out = o;
        }
    }
    if out == src {
        std::borrow::Cow::Borrowed(src)
    } else {
        std::borrow::Cow::Owned(out)
    }
}

/// Split `text` at the top-level `sep` characters (outside quoted strings
/// and brackets).
fn split_top_level(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut escaped, mut last) = (0i32, None::<char>, false, 0);
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            c if c == sep && depth == 0 => {
                parts.push(&text[last..i]);
                last = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[last..]);
    parts
}

/// The names an expression reads (identifiers outside strings that are not
/// an attribute after `.`).
fn expr_names(expr: &str) -> Vec<&str> {
    let b = expr.as_bytes();
    let mut names = Vec::new();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let attr = expr[..start].trim_end().ends_with('.');
            if !attr {
                names.push(&expr[start..i]);
            }
            continue;
        }
        i += 1;
    }
    names
}

/// Jinja2 evaluates a macro parameter's default when the macro is called,
/// where the parameters before it are set (`{% macro generate_source(
/// schema_name, name=schema_name) %}`, dbt-codegen); minijinja evaluates it
/// without them. Such a default becomes a marker, and the macro's body
/// starts by giving a parameter left at the marker its default. `None` when
/// no default reads an earlier parameter.
fn late_bound_defaults(tag: &str) -> Option<String> {
    let open = tag.find('(')?;
    let close = matching_bracket(tag, open)?;
    let params = &tag[open + 1..close];
    let mut earlier: Vec<&str> = Vec::new();
    let mut late: Vec<(&str, &str)> = Vec::new();
    let mut rewritten: Vec<String> = Vec::new();
    for p in split_top_level(params, ',') {
        let parts = split_top_level(p, '=');
        let name = parts[0].trim();
        // `a=b` splits in two; `a=b==c` in more, the default being the rest
        if parts.len() >= 2 && !p.contains("==") || parts.len() > 2 {
            let eq = p.find('=').unwrap_or(p.len());
            let default = p[eq + 1..].trim();
            if expr_names(default).iter().any(|n| earlier.contains(n)) {
                late.push((name, default));
                rewritten.push(format!("{name}=__tarmac_unset"));
                earlier.push(name);
                continue;
            }
        }
        rewritten.push(p.to_string());
        if !name.is_empty() {
            earlier.push(name);
        }
    }
    if late.is_empty() {
        return None;
    }
    let strip = if tag[..tag.len() - 2].ends_with('-') {
        "-"
    } else {
        ""
    };
    let mut out = format!(
        "{}({}){}",
        &tag[..open],
        rewritten.join(","),
        &tag[close + 1..]
    );
    for (name, default) in late {
        out.push_str(&format!(
            "{{%{strip} if {name} is sameas __tarmac_unset {strip}%}}{{%{strip} set {name} = {default} {strip}%}}{{%{strip} endif {strip}%}}"
        ));
    }
    Some(out)
}

/// The keyword a statement tag starts with (`if`, `set`, `endraw`...).
fn tag_keyword(tag: &str) -> &str {
    tag[2..]
        .trim_start_matches(['-', '+'])
        .trim_start()
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or("")
}

/// Replace the empty `[]`/`{}` literals of a statement tag (outside quoted
/// strings) with their changeable stand-ins.
fn changeable_empty_literals(tag: &str) -> String {
    let b = tag.as_bytes();
    let mut out = String::with_capacity(tag.len() + 16);
    let mut quote: Option<u8> = None;
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                // `{%` opens the tag itself
                b'[' | b'{' if !(c == b'{' && i == 0) => {
                    let close = if c == b'[' { b']' } else { b'}' };
                    let mut j = i + 1;
                    while j < b.len() && b[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if b.get(j) == Some(&close) {
                        out.push_str(&tag[last..i]);
                        out.push_str(empty_literal(&tag[i..=i]));
                        i = j;
                        last = j + 1;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    out.push_str(&tag[last..]);
    out
}

/// The changeable stand-in for an empty literal `[]` / `{}`.
fn empty_literal(lit: &str) -> &'static str {
    if lit.starts_with('[') {
        "__tarmac_list()"
    } else {
        "__tarmac_dict()"
    }
}

/// Wrap each list or dict literal that a `{% set name = ... %}` assigns
/// whole in a call that makes it changeable (see [`preprocess`]); a literal
/// that is only part of the expression (`[1] + x`) is left alone.
fn wrap_set_literals(src: &str, set_re: &regex::Regex) -> String {
    let mut out = String::with_capacity(src.len());
    let mut last = 0;
    for m in set_re.find_iter(src) {
        let open = m.end() - 1;
        if open < last {
            continue;
        }
        let Some(close) = matching_bracket(src, open) else {
            continue;
        };
        let after = src[close + 1..].trim_start();
        if !(after.starts_with("%}") || after.starts_with("-%}") || after.starts_with("+%}")) {
            continue;
        }
        let lit = &src[open..=close];
        out.push_str(&src[last..open]);
        let inner = &lit[1..lit.len() - 1];
        if inner.trim().is_empty() {
            out.push_str(empty_literal(lit));
        } else {
            out.push_str("__tarmac_mut(");
            out.push_str(lit);
            out.push(')');
        }
        last = close + 1;
    }
    out.push_str(&src[last..]);
    out
}

/// The index of the bracket closing the one at `open`, skipping quoted
/// strings; `None` when it is not closed before the tag ends.
fn matching_bracket(src: &str, open: usize) -> Option<usize> {
    let b = src.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = open;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'[' | b'{' | b'(' => depth += 1,
                b']' | b'}' | b')' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                b'%' if b.get(i + 1) == Some(&b'}') => return None,
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// Drop the colon Jinja2 allows after a block tag's expression
/// (`{% if x: %}`, `{% else: %}`); other tags are returned unchanged.
fn strip_block_colon(tag: &str) -> std::borrow::Cow<'_, str> {
    const BLOCKS: [&str; 9] = [
        "if", "elif", "else", "for", "macro", "call", "filter", "with", "block",
    ];
    let body = tag[2..tag.len() - 2].trim_start_matches(['-', '+']);
    let body = body.trim_end_matches(['-', '+']).trim_end();
    if !BLOCKS.contains(&tag_keyword(tag)) || !body.ends_with(':') {
        return std::borrow::Cow::Borrowed(tag);
    }
    // the byte offset of that colon within the tag
    let colon = tag[..tag.len() - 2]
        .trim_end_matches(['-', '+'])
        .trim_end()
        .len()
        - 1;
    std::borrow::Cow::Owned(format!("{}{}", &tag[..colon], &tag[colon + 1..]))
}

/// An agate column of a query result: `.name`, `.values()`, and, as agate's
/// columns are sequences of their values, `column[i]`, iteration and
/// `| length` (packages read a single aggregate as `table.columns[0][0]`).
#[derive(Debug)]
pub struct AgateColumn {
    pub name: String,
    pub values: Vec<Value>,
}

impl Object for AgateColumn {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_i64() {
            let i = if i < 0 {
                self.values.len() as i64 + i
            } else {
                i
            };
            return self.values.get(usize::try_from(i).ok()?).cloned();
        }
        match key.as_str()? {
            "name" => Some(Value::from(self.name.clone())),
            _ => None,
        }
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.values.clone())
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        _a: &[Value],
    ) -> Result<Value, JError> {
        match m {
            "values" | "values_without_nulls" => Ok(Value::from(
                self.values
                    .iter()
                    .filter(|v| m == "values" || !v.is_none())
                    .cloned()
                    .collect::<Vec<_>>(),
            )),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// `json.dumps` as Python writes it (`", "` and `": "` separators).
pub fn py_json(v: &serde_json::Value, sort_keys: bool) -> String {
    use serde_json::Value as J;
    match v {
        J::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(|x| py_json(x, sort_keys))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        J::Object(o) => {
            let mut items: Vec<(&String, &J)> = o.iter().collect();
            if sort_keys {
                items.sort_by(|a, b| a.0.cmp(b.0));
            }
            format!(
                "{{{}}}",
                items
                    .into_iter()
                    .map(|(k, x)| format!("{}: {}", J::String(k.clone()), py_json(x, sort_keys)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        other => other.to_string(),
    }
}
