//! YAML selectors (`selectors.yml`, `--selector NAME`, `default: true`;
//! <https://docs.getdbt.com/reference/node-selection/yaml-selectors>).
//! A definition is a CLI-style string, a method mapping (`method`, `value`,
//! `parents`, `children`, `parents_depth`, `children_depth`,
//! `childrens_parents`, `indirect_selection`), a `union`/`intersection` list whose `exclude`
//! items are subtracted, or `method: selector` naming another selector.

use std::collections::BTreeSet;
use std::path::Path;

use dbt_project::selectors_file::{Definition, Method, Selector};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::graph::Dag;
use crate::manifest::Manifest;

/// The selectors of a project.
#[derive(Debug, Default, Clone)]
pub struct Selectors {
    pub items: Vec<Selector>,
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
        let text = std::fs::read_to_string(&path).map_err(|e| dbt_project::Error::io(&path, e))?;
        let doc = crate::yaml::parse(&path, &text)?;
        let items =
            dbt_project::selectors_file::read(&doc, &path, &crate::yaml::KeyLines::of(&text))?;
        Ok(Selectors {
            default: items.iter().find(|s| s.default).map(|s| s.name.clone()),
            items,
            file: path.display().to_string(),
            ..Default::default()
        })
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
            .find(|s| s.name == name)
            .map(|s| &s.definition)
            .ok_or_else(|| {
                let names: Vec<&str> = self.items.iter().map(|s| s.name.as_str()).collect();
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
        def: &Definition,
        m: &Manifest,
        dag: &Dag,
        depth: usize,
        name: &str,
    ) -> Result<BTreeSet<String>> {
        match def {
            Definition::Cli(s) => crate::select::evaluate(
                m,
                dag,
                std::slice::from_ref(s),
                self.indirect,
                self.state.as_ref(),
            ),
            Definition::Union { items, exclude } | Definition::Intersection { items, exclude } => {
                let union = matches!(def, Definition::Union { .. });
                let mut acc: Option<BTreeSet<String>> = None;
                for it in items {
                    let s = self.eval_def(it, m, dag, depth, name)?;
                    acc = Some(match acc {
                        None => s,
                        Some(a) if union => a.union(&s).cloned().collect(),
                        Some(a) => a.intersection(&s).cloned().collect(),
                    });
                }
                let excluded = self.eval_list(exclude, m, dag, depth, name)?;
                let mut out = acc.unwrap_or_default();
                out.retain(|id| !excluded.contains(id));
                Ok(out)
            }
            Definition::Method(o) => {
                let mut out = if o.method == "selector" {
                    self.eval_named(&o.value, m, dag, depth)?
                } else {
                    let mode = match &o.indirect_selection {
                        Some(v) => v.parse().map_err(|message| Error::Selector {
                            selector: name.to_string(),
                            message,
                        })?,
                        None => self.indirect,
                    };
                    crate::select::evaluate(m, dag, &[atom(o)], mode, self.state.as_ref())?
                };
                let ex = self.eval_list(&o.exclude, m, dag, depth, name)?;
                out.retain(|id| !ex.contains(id));
                Ok(out)
            }
        }
    }

    fn eval_list(
        &self,
        defs: &[Definition],
        m: &Manifest,
        dag: &Dag,
        depth: usize,
        name: &str,
    ) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for d in defs {
            out.extend(self.eval_def(d, m, dag, depth, name)?);
        }
        Ok(out)
    }

    /// The selectors as manifest.json's `selectors` holds them.
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for s in &self.items {
            out.insert(
                s.name.clone(),
                serde_json::json!({"name": s.name, "definition": s.raw, "default": s.default}),
            );
        }
        Value::Object(out)
    }
}

/// A method definition as the command-line selection it means
/// (`2+tag:a+`, `@path:x`).
fn atom(o: &Method) -> String {
    let mut atom = String::new();
    if o.childrens_parents {
        atom.push('@');
    } else if o.parents || o.parents_depth.is_some() {
        if let Some(d) = o.parents_depth {
            atom.push_str(&d.to_string());
        }
        atom.push('+');
    }
    atom.push_str(&format!("{}:{}", o.method, o.value));
    if !o.childrens_parents && (o.children || o.children_depth.is_some()) {
        atom.push('+');
        if let Some(d) = o.children_depth {
            atom.push_str(&d.to_string());
        }
    }
    atom
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_read_as_command_line_selections() {
        let m = |f: fn(&mut Method)| {
            let mut o = Method {
                method: "tag".into(),
                value: "a".into(),
                ..Method::default()
            };
            f(&mut o);
            atom(&o)
        };
        assert_eq!(m(|_| {}), "tag:a");
        assert_eq!(m(|o| o.parents = true), "+tag:a");
        assert_eq!(m(|o| o.parents_depth = Some(2)), "2+tag:a");
        assert_eq!(m(|o| o.children_depth = Some(1)), "tag:a+1");
        assert_eq!(
            m(|o| {
                o.childrens_parents = true;
                o.children = true
            }),
            "@tag:a"
        );
    }
}
