//! `selectors.yml` read into typed definitions, every problem of the file
//! reported at once with its line
//! (<https://docs.getdbt.com/reference/node-selection/yaml-selectors>).
//! What a definition selects needs the manifest and the DAG, so evaluating
//! it is the engine's (`engine::selectors`); the grammar is here.

use std::path::Path;

use serde_json::Value;

use crate::error::Result;
use crate::yaml::{KeyLines, Problems};

/// `indirect_selection:` values dbt accepts.
pub const INDIRECT_MODES: &[&str] = &["eager", "cautious", "buildable", "empty"];

/// One named selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub name: String,
    pub default: bool,
    pub definition: Definition,
    /// The definition as written, which manifest.json's `selectors` holds.
    pub raw: Value,
}

/// A selector's definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Definition {
    /// A command-line selection string (`tag:nightly+`).
    Cli(String),
    /// `method: x, value: y` with its graph operators, or `method:
    /// selector` naming another selector.
    Method(Method),
    /// `union:` / `intersection:`: the items combined, less the items
    /// written as `exclude:`.
    Union {
        items: Vec<Definition>,
        exclude: Vec<Definition>,
    },
    Intersection {
        items: Vec<Definition>,
        exclude: Vec<Definition>,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Method {
    pub method: String,
    pub value: String,
    pub parents: bool,
    pub parents_depth: Option<u64>,
    pub children: bool,
    pub children_depth: Option<u64>,
    pub childrens_parents: bool,
    /// One of [`INDIRECT_MODES`]; `None` takes the run's.
    pub indirect_selection: Option<String>,
    pub exclude: Vec<Definition>,
}

/// The selectors of a parsed `selectors.yml` (`doc`) at `path`.
pub fn read(doc: &Value, path: &Path, lines: &KeyLines) -> Result<Vec<Selector>> {
    let mut p = Problems::new(path, lines);
    let list = match doc.get("selectors") {
        Some(Value::Array(a)) => a.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => {
            p.add("selectors", "key selectors: expected a list".into());
            &[]
        }
    };
    let mut out: Vec<Selector> = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let at = format!("selectors[{i}]");
        let Some(name) = s.get("name").and_then(Value::as_str) else {
            p.add(
                &format!("{at}.name"),
                format!("key {at}.name: required, a string"),
            );
            continue;
        };
        let default = match s.get("default") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(x)) => x.eq_ignore_ascii_case("true"),
            _ => false,
        };
        if default {
            if let Some(prev) = out.iter().find(|s| s.default) {
                p.add(
                    &format!("{at}.default"),
                    format!(
                        "key {at}.default: {} is already the default selector",
                        prev.name
                    ),
                );
            }
        }
        if out.iter().any(|s| s.name == name) {
            p.add(
                &format!("{at}.name"),
                format!("key {at}.name: {name} is defined twice"),
            );
        }
        let Some(raw) = s.get("definition") else {
            p.add(
                &at,
                format!("key {at}.definition: required (selector {name})"),
            );
            continue;
        };
        let definition = p.definition(raw, &format!("{at}.definition"));
        out.push(Selector {
            name: name.to_string(),
            default,
            definition,
            raw: raw.clone(),
        });
    }
    p.finish(out)
}

impl Problems<'_> {
    /// A definition at key path `at`; a bad one is recorded and read as an
    /// empty union, so that the rest of the file is still checked.
    fn definition(&mut self, v: &Value, at: &str) -> Definition {
        let empty = || Definition::Union {
            items: Vec::new(),
            exclude: Vec::new(),
        };
        match v {
            Value::String(s) => Definition::Cli(s.clone()),
            Value::Object(o) => {
                for key in ["union", "intersection"] {
                    let Some(list) = o.get(key) else { continue };
                    let Value::Array(items) = list else {
                        self.add(
                            &format!("{at}.{key}"),
                            format!("key {at}.{key}: expected a list"),
                        );
                        return empty();
                    };
                    let (mut kept, mut exclude) = (Vec::new(), Vec::new());
                    for (j, item) in items.iter().enumerate() {
                        let here = format!("{at}.{key}[{j}]");
                        match item.get("exclude") {
                            Some(ex) => exclude.extend(self.list(ex, &format!("{here}.exclude"))),
                            None => kept.push(self.definition(item, &here)),
                        }
                    }
                    return if key == "union" {
                        Definition::Union {
                            items: kept,
                            exclude,
                        }
                    } else {
                        Definition::Intersection {
                            items: kept,
                            exclude,
                        }
                    };
                }
                let Some(method) = o.get("method").and_then(Value::as_str) else {
                    self.add(
                        at,
                        format!("key {at}: a definition needs method:, union: or intersection:"),
                    );
                    return empty();
                };
                let value = match o.get("value") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => {
                        self.add(at, format!("key {at}: method {method}: value is required"));
                        return empty();
                    }
                    Some(other) => other.to_string(),
                };
                let flag = |k: &str| matches!(o.get(k), Some(Value::Bool(true)));
                let num = |k: &str| o.get(k).and_then(Value::as_u64);
                let indirect_selection = match o.get("indirect_selection") {
                    Some(Value::String(m)) if INDIRECT_MODES.contains(&m.as_str()) => {
                        Some(m.clone())
                    }
                    None | Some(Value::Null) => None,
                    Some(other) => {
                        self.add(
                            &format!("{at}.indirect_selection"),
                            format!(
                                "key {at}.indirect_selection: expected one of {}, found {other}",
                                INDIRECT_MODES.join(", ")
                            ),
                        );
                        None
                    }
                };
                let exclude = match o.get("exclude") {
                    Some(ex) => self.list(ex, &format!("{at}.exclude")),
                    None => Vec::new(),
                };
                Definition::Method(Method {
                    method: method.to_string(),
                    value,
                    parents: flag("parents"),
                    parents_depth: num("parents_depth"),
                    children: flag("children"),
                    children_depth: num("children_depth"),
                    childrens_parents: flag("childrens_parents"),
                    indirect_selection,
                    exclude,
                })
            }
            other => {
                self.add(at, format!("key {at}: unsupported definition {other}"));
                empty()
            }
        }
    }

    /// `exclude:`: one definition or a list of them.
    fn list(&mut self, v: &Value, at: &str) -> Vec<Definition> {
        match v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(j, it)| self.definition(it, &format!("{at}[{j}]")))
                .collect(),
            other => vec![self.definition(other, at)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn parse(text: &str) -> Result<Vec<Selector>> {
        let path = Path::new("selectors.yml");
        let doc = crate::yaml::parse(path, text)?;
        read(&doc, path, &KeyLines::of(text))
    }

    #[test]
    fn reads_every_form() {
        let s = parse(
            "\
selectors:
  - name: nightly
    default: true
    definition: tag:nightly
  - name: both
    definition:
      union:
        - method: tag
          value: a
          parents: true
          children_depth: 2
          indirect_selection: cautious
        - method: selector
          value: nightly
        - exclude:
            - path:models/x
",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].default);
        assert_eq!(s[0].definition, Definition::Cli("tag:nightly".into()));
        let Definition::Union { items, exclude } = &s[1].definition else {
            panic!("{:?}", s[1].definition)
        };
        assert_eq!(
            items[0],
            Definition::Method(Method {
                method: "tag".into(),
                value: "a".into(),
                parents: true,
                children_depth: Some(2),
                indirect_selection: Some("cautious".into()),
                ..Method::default()
            })
        );
        assert_eq!(exclude, &[Definition::Cli("path:models/x".into())]);
        assert_eq!(s[1].raw["union"][1]["method"], "selector");
    }

    #[test]
    fn every_problem_with_its_line() {
        let e = parse(
            "\
selectors:
  - name: a
    default: true
    definition:
      method: tag
  - name: a
    default: true
    definition:
      union: tag:x
  - definition: x
  - name: c
    definition:
      method: tag
      value: x
      indirect_selection: sometimes
",
        )
        .unwrap_err();
        let Error::Invalid { problems, .. } = &e else {
            panic!("{e:?}")
        };
        let got: Vec<(Option<usize>, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some(4),
                    "key selectors[0].definition: method tag: value is required"
                ),
                (Some(6), "key selectors[1].name: a is defined twice"),
                (
                    Some(7),
                    "key selectors[1].default: a is already the default selector"
                ),
                (Some(9), "key selectors[1].definition.union: expected a list"),
                (Some(10), "key selectors[2].name: required, a string"),
                (
                    Some(15),
                    "key selectors[3].definition.indirect_selection: expected one of eager, cautious, buildable, empty, found \"sometimes\""
                ),
            ]
        );
    }
}
