//! YAML selectors (`selectors.yml`, `--selector NAME`, `default: true`;
//! <https://docs.getdbt.com/reference/node-selection/yaml-selectors>).
//! A definition is a CLI-style string, a method mapping (`method`, `value`,
//! `parents`, `children`, `parents_depth`, `children_depth`,
//! `childrens_parents`, `indirect_selection`), a `union`/`intersection` list whose `exclude`
//! items are subtracted, or `method: selector` naming another selector.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::graph::Dag;
use crate::manifest::Manifest;

/// The selectors of a project.
#[derive(Debug, Default, Clone)]
pub struct Selectors {
    pub items: Vec<(String, Value)>,
    pub default: Option<String>,
    /// `--indirect-selection`, which a method mapping's own
    /// `indirect_selection:` overrides.
    pub indirect: crate::select::IndirectSelection,
    /// `--state`'s artifacts, for `method: state`, `result` and
    /// `source_status` definitions.
    pub state: Option<crate::state::State>,
    file: String,
}

impl Selectors {
    /// Read `<root>/selectors.yml` (absent: no selectors).
    pub fn load(root: &Path) -> Result<Selectors> {
        let path = root.join("selectors.yml");
        if !path.exists() {
            return Ok(Selectors::default());
        }
        let doc = crate::yaml::read(&path)?;
        let bad = |m: String| Error::Yaml {
            path: path.clone(),
            message: m,
        };
        let list = match doc.get("selectors") {
            Some(Value::Array(a)) => a.clone(),
            None | Some(Value::Null) => vec![],
            Some(_) => return Err(bad("key selectors: expected a list".into())),
        };
        let mut out = Selectors {
            file: path.display().to_string(),
            ..Default::default()
        };
        for (i, s) in list.iter().enumerate() {
            let name = s
                .get("name")
                .and_then(|n| n.as_str())
                .ok_or_else(|| bad(format!("key selectors[{i}].name: required, a string")))?
                .to_string();
            let def = s.get("definition").cloned().ok_or_else(|| {
                bad(format!(
                    "key selectors[{i}].definition: required (selector {name})"
                ))
            })?;
            let is_default = match s.get("default") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(x)) => x.eq_ignore_ascii_case("true"),
                _ => false,
            };
            if is_default {
                if let Some(prev) = &out.default {
                    return Err(bad(format!(
                        "key selectors[{i}].default: {prev} is already the default selector"
                    )));
                }
                out.default = Some(name.clone());
            }
            if out.items.iter().any(|(n, _)| *n == name) {
                return Err(bad(format!(
                    "key selectors[{i}].name: {name} is defined twice"
                )));
            }
            out.items.push((name, def));
        }
        Ok(out)
    }

    /// The unique ids a named selector picks.
    pub fn evaluate(&self, name: &str, m: &Manifest, dag: &Dag) -> Result<BTreeSet<String>> {
        self.eval_named(name, m, dag, 0)
    }

    fn eval_named(
        &self,
        name: &str,
        m: &Manifest,
        dag: &Dag,
        depth: usize,
    ) -> Result<BTreeSet<String>> {
        let def = self
            .items
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d)
            .ok_or_else(|| {
                let names: Vec<&str> = self.items.iter().map(|(n, _)| n.as_str()).collect();
                let close = crate::manifest::closest(name, names.iter().copied());
                Error::Selector {
                    selector: name.to_string(),
                    message: if names.is_empty() {
                        "no selectors.yml in the project (or it defines no selectors)".into()
                    } else if close.is_empty() {
                        format!(
                            "no such selector in {} (defined: {})",
                            self.file,
                            names.join(", ")
                        )
                    } else {
                        format!(
                            "no such selector in {} (did you mean {}?)",
                            self.file,
                            close.join(", ")
                        )
                    },
                }
            })?;
        if depth > 20 {
            return Err(Error::Selector {
                selector: name.into(),
                message: "selectors refer to each other in a cycle".into(),
            });
        }
        self.eval_def(def, m, dag, depth + 1, name)
    }

    fn eval_def(
        &self,
        def: &Value,
        m: &Manifest,
        dag: &Dag,
        depth: usize,
        name: &str,
    ) -> Result<BTreeSet<String>> {
        let bad = |msg: String| Error::Selector {
            selector: name.to_string(),
            message: msg,
        };
        match def {
            Value::String(s) => crate::select::evaluate(
                m,
                dag,
                std::slice::from_ref(s),
                self.indirect,
                self.state.as_ref(),
            ),
            Value::Object(o) => {
                for key in ["union", "intersection"] {
                    if let Some(v) = o.get(key) {
                        let Value::Array(items) = v else {
                            return Err(bad(format!("{key}: expected a list")));
                        };
                        let mut acc: Option<BTreeSet<String>> = None;
                        let mut excluded = BTreeSet::new();
                        for it in items {
                            if let Some(ex) = it.get("exclude") {
                                excluded.extend(self.eval_list(ex, m, dag, depth, name)?);
                                continue;
                            }
                            let s = self.eval_def(it, m, dag, depth, name)?;
                            acc = Some(match (acc, key) {
                                (None, _) => s,
                                (Some(a), "union") => a.union(&s).cloned().collect(),
                                (Some(a), _) => a.intersection(&s).cloned().collect(),
                            });
                        }
                        let mut out = acc.unwrap_or_default();
                        out.retain(|id| !excluded.contains(id));
                        return Ok(out);
                    }
                }
                let method = o.get("method").and_then(|v| v.as_str()).ok_or_else(|| {
                    bad("a definition needs method:, union: or intersection:".into())
                })?;
                let value = match o.get("value") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => {
                        return Err(bad(format!("method {method}: value is required")))
                    }
                    Some(other) => other.to_string(),
                };
                let mut out = if method == "selector" {
                    self.eval_named(&value, m, dag, depth)?
                } else {
                    let flag = |k: &str| matches!(o.get(k), Some(Value::Bool(true)));
                    let num = |k: &str| o.get(k).and_then(|v| v.as_u64());
                    let mut atom = String::new();
                    if flag("childrens_parents") {
                        atom.push('@');
                    } else if flag("parents") || num("parents_depth").is_some() {
                        if let Some(d) = num("parents_depth") {
                            atom.push_str(&d.to_string());
                        }
                        atom.push('+');
                    }
                    let method = if method == "fqn" {
                        "fqn".to_string()
                    } else {
                        method.to_string()
                    };
                    atom.push_str(&format!("{method}:{value}"));
                    if !flag("childrens_parents")
                        && (flag("children") || num("children_depth").is_some())
                    {
                        atom.push('+');
                        if let Some(d) = num("children_depth") {
                            atom.push_str(&d.to_string());
                        }
                    }
                    let mode = match o.get("indirect_selection") {
                        Some(Value::String(v)) => v.parse().map_err(bad)?,
                        _ => self.indirect,
                    };
                    crate::select::evaluate(m, dag, &[atom], mode, self.state.as_ref())?
                };
                if let Some(ex) = o.get("exclude") {
                    let ex = self.eval_list(ex, m, dag, depth, name)?;
                    out.retain(|id| !ex.contains(id));
                }
                Ok(out)
            }
            other => Err(bad(format!("unsupported definition {other}"))),
        }
    }

    fn eval_list(
        &self,
        v: &Value,
        m: &Manifest,
        dag: &Dag,
        depth: usize,
        name: &str,
    ) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        match v {
            Value::Array(items) => {
                for it in items {
                    out.extend(self.eval_def(it, m, dag, depth, name)?);
                }
            }
            other => out.extend(self.eval_def(other, m, dag, depth, name)?),
        }
        Ok(out)
    }

    /// The selectors as manifest.json's `selectors` holds them.
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (n, d) in &self.items {
            out.insert(
                n.clone(),
                serde_json::json!({"name": n, "definition": d, "default": self.default.as_deref() == Some(n)}),
            );
        }
        Value::Object(out)
    }
}
