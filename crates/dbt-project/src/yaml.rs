//! YAML reading shared by the project, profile and properties files: YAML
//! is parsed into JSON values (configs are merged and serialized as JSON
//! everywhere else), and strings holding Jinja are rendered with a small
//! environment (`env_var`, `var`), as dbt renders these files.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Parse YAML text into JSON; mapping keys that are not strings are stringified.
pub fn parse(path: &Path, text: &str) -> Result<Value> {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| located(path, &e))?;
    Ok(to_json(v))
}

/// A parser error as `file:line:column: message`; the parser's own
/// " at line L column C" for that same place is dropped from the message,
/// where the location now leads (other places it names, such as where the
/// unclosed collection began, stay).
fn located(path: &Path, e: &serde_yaml_ng::Error) -> Error {
    let message = e.to_string();
    let Some(loc) = e.location() else {
        return Error::Yaml {
            path: path.to_path_buf(),
            at: None,
            message,
        };
    };
    let (line, column) = (loc.line(), loc.column());
    let message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
    Error::Yaml {
        path: path.to_path_buf(),
        at: Some((line, column)),
        message,
    }
}

/// Read and parse a YAML file.
pub fn read(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(path, &text)
}

/// Where each key of a YAML file is, by key path (`models.shop.+tags`,
/// `dispatch[0].search_order`), for errors that name a line. The YAML
/// parser keeps no positions in its values, so the text is read again
/// here: block mappings and sequences, the layout project files use. A key
/// in a flow mapping (`{a: 1}`) is located by the line of its parent.
#[derive(Debug, Clone, Default)]
pub struct KeyLines(std::collections::HashMap<String, usize>);

impl KeyLines {
    pub fn of(text: &str) -> KeyLines {
        let mut lines = std::collections::HashMap::new();
        // (indent, segment) from the top down to the current key
        let mut stack: Vec<(usize, String)> = Vec::new();
        let mut next_item: std::collections::HashMap<String, usize> =
            std::collections::HashMap::new();
        let path = |stack: &[(usize, String)]| {
            let mut p = String::new();
            for (_, seg) in stack {
                if !p.is_empty() && !seg.starts_with('[') {
                    p.push('.');
                }
                p.push_str(seg);
            }
            p
        };
        for (n, raw) in text.lines().enumerate() {
            let mut rest = raw.trim_start();
            if rest.is_empty() || rest.starts_with('#') || rest.starts_with("---") {
                continue;
            }
            // a sequence item, possibly opening a mapping on the same line
            while rest == "-" || rest.starts_with("- ") {
                let indent = raw.len() - rest.len();
                while stack
                    .last()
                    .is_some_and(|(i, seg)| *i > indent || (*i == indent && seg.starts_with('[')))
                {
                    stack.pop();
                }
                let counter = next_item.entry(path(&stack)).or_insert(0);
                stack.push((indent, format!("[{counter}]")));
                *counter += 1;
                lines.entry(path(&stack)).or_insert(n + 1);
                rest = rest[1..].trim_start();
            }
            let indent = raw.len() - rest.len();
            if let Some(key) = block_key(rest) {
                while stack.last().is_some_and(|(i, _)| *i >= indent) {
                    stack.pop();
                }
                stack.push((indent, key));
                let p = path(&stack);
                // a key seen again starts its sequence over
                next_item.remove(&p);
                lines.entry(p).or_insert(n + 1);
            }
        }
        KeyLines(lines)
    }

    /// The line of `key`, else of its nearest enclosing key that has one.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        let mut k = key;
        loop {
            if let Some(l) = self.0.get(k) {
                return Some(*l);
            }
            let cut = k.rfind(['.', '['])?;
            k = &k[..cut];
        }
    }
}

/// The problems of one file, gathered as they are found, each located by
/// its key path: what the typed readers (`project_file`, `profile_file`,
/// `packages_file`, `selectors_file`) fill, so that a file's every problem
/// is reported at once.
pub struct Problems<'a> {
    path: &'a Path,
    lines: &'a KeyLines,
    found: Vec<crate::error::Problem>,
}

impl<'a> Problems<'a> {
    pub fn new(path: &'a Path, lines: &'a KeyLines) -> Problems<'a> {
        Problems {
            path,
            lines,
            found: Vec::new(),
        }
    }

    /// A problem at key path `key` (`dispatch[0].search_order`).
    pub fn add(&mut self, key: &str, message: String) {
        self.found.push(crate::error::Problem {
            line: self.lines.line_of(key),
            message,
        });
    }

    /// `value` when nothing was found, else every problem in the file's
    /// order (those without a line first) as one error.
    pub fn finish<T>(mut self, value: T) -> Result<T> {
        if self.found.is_empty() {
            return Ok(value);
        }
        self.found.sort_by_key(|p| p.line);
        Err(Error::Invalid {
            path: self.path.to_path_buf(),
            problems: self.found,
        })
    }
}

/// The key a block mapping line opens (`key:`, `"key":`, `key: value`).
fn block_key(line: &str) -> Option<String> {
    let (key, after) = match line.chars().next()? {
        q @ ('\'' | '"') => {
            let end = line[1..].find(q)? + 1;
            (line[1..end].to_string(), &line[end + 1..])
        }
        '{' | '[' | '&' | '*' | '!' | '|' | '>' => return None,
        _ => {
            let colon = line
                .find(": ")
                .or_else(|| line.strip_suffix(':').map(|s| s.len()))?;
            let key = line[..colon].trim_end();
            if key.contains(" #") {
                return None;
            }
            (key.to_string(), &line[colon..])
        }
    };
    (after.starts_with(": ") || after.trim_end() == ":").then_some(key)
}

fn to_json(v: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    Y::Null => "null".to_string(),
                    other => serde_yaml_ng::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => to_json(t.value),
    }
}

/// Render every string holding `{{` or `{%` with `render`, except under the
/// keys in `skip` (hooks are rendered later, at run time, as dbt does).
pub fn render_strings(
    v: &mut Value,
    skip: &[&str],
    render: &dyn Fn(&str) -> std::result::Result<String, String>,
    key_path: &str,
) -> std::result::Result<(), String> {
    match v {
        Value::String(s) if s.contains("{{") || s.contains("{%") => {
            let rendered = render(s).map_err(|e| format!("key {key_path}: {e}"))?;
            *s = rendered;
        }
        Value::Array(a) => {
            for (i, item) in a.iter_mut().enumerate() {
                render_strings(item, skip, render, &format!("{key_path}[{i}]"))?;
            }
        }
        Value::Object(m) => {
            for (k, item) in m.iter_mut() {
                let bare = k.trim_start_matches('+').replace('-', "_");
                if skip.contains(&bare.as_str()) {
                    continue;
                }
                let p = if key_path.is_empty() {
                    k.clone()
                } else {
                    format!("{key_path}.{k}")
                };
                render_strings(item, skip, render, &p)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A rendered string is turned back into a number or boolean when it reads as one
/// (dbt does this for `threads: "{{ env_var('THREADS') }}"`-style values).
pub fn coerce_scalar(s: &str) -> Value {
    if let Ok(i) = s.trim().parse::<i64>() {
        return Value::from(i);
    }
    match s.trim() {
        "true" | "True" => Value::Bool(true),
        "false" | "False" => Value::Bool(false),
        _ => Value::String(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yaml_to_json_with_stringified_keys() {
        let v = parse(Path::new("x.yml"), "a: 1\n2: [true, 'x']\n").unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(v["2"][0], true);
    }

    #[test]
    fn yaml_error_names_file_line_and_column() {
        let e = parse(Path::new("dbt_project.yml"), "a: 1\nb: [1,\nc: 2\n").unwrap_err();
        let Error::Yaml { at, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*at, Some((4, 1)), "{e}");
        assert!(e.to_string().starts_with("dbt_project.yml:4:1: "), "{e}");
        assert!(!e.to_string().contains("at line 4 column 1"), "{e}");
    }

    #[test]
    fn key_lines_follow_mappings_and_sequences() {
        let text = "\
name: shop
# a comment
models:
  shop:
    +materialized: table
    \"quoted key\": 1
dispatch:
  - macro_namespace: a
    search_order: [x]
  - macro_namespace: b
on-run-end:
- one
- two
";
        let k = KeyLines::of(text);
        assert_eq!(k.line_of("name"), Some(1));
        assert_eq!(k.line_of("models.shop.+materialized"), Some(5));
        assert_eq!(k.line_of("models.shop.quoted key"), Some(6));
        assert_eq!(k.line_of("dispatch[0].search_order"), Some(9));
        assert_eq!(k.line_of("dispatch[1].macro_namespace"), Some(10));
        assert_eq!(k.line_of("on-run-end[1]"), Some(13));
        // a key inside a flow value: its parent's line
        assert_eq!(k.line_of("dispatch[0].search_order[0]"), Some(9));
        assert_eq!(k.line_of("absent"), None);
    }

    #[test]
    fn renders_strings_but_not_hooks() {
        let mut v = parse(
            Path::new("x.yml"),
            "a: \"{{ 1 }}\"\nmodels:\n  +post-hook: \"{{ 2 }}\"\n",
        )
        .unwrap();
        render_strings(
            &mut v,
            &["post_hook"],
            &|s| Ok(s.replace("{{ 1 }}", "one")),
            "",
        )
        .unwrap();
        assert_eq!(v["a"], "one");
        assert_eq!(v["models"]["+post-hook"], "{{ 2 }}");
    }
}
