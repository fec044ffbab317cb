//! Node selection, as `--select`/`--exclude`
//! (<https://docs.getdbt.com/reference/node-selection/syntax>): spaces are
//! unions, commas intersections; atoms are names/fqns, `path:`, `tag:`,
//! `config.<key>:`, `resource_type:`, `package:`, `fqn:`, with `+`/`n+` on
//! either side and `@`.

use std::collections::BTreeSet;

use crate::config::ConfigExt;
use crate::error::{Error, Result};
use crate::graph::Dag;
use crate::manifest::{Manifest, Node};

/// One parsed selector atom.
#[derive(Debug, PartialEq)]
struct Atom {
    at: bool,
    parents: Option<Option<usize>>,
    children: Option<Option<usize>>,
    method: String,
    value: String,
}

fn parse_atom(s: &str) -> Result<Atom> {
    let bad = |m: &str| Error::Selector {
        selector: s.to_string(),
        message: m.to_string(),
    };
    let mut rest = s;
    let at = rest.starts_with('@');
    if at {
        rest = &rest[1..];
    }
    let mut parents = None;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if rest[digits.len()..].starts_with('+') {
        parents = Some(if digits.is_empty() {
            None
        } else {
            digits.parse().ok()
        });
        rest = &rest[digits.len() + 1..];
    }
    let mut children = None;
    if let Some(stripped) = rest.strip_suffix('+') {
        rest = stripped;
        children = Some(None);
    } else {
        let tail: String = rest
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let head = &rest[..rest.len() - tail.len()];
        if !tail.is_empty() && head.ends_with('+') {
            let n: String = tail.chars().rev().collect();
            children = Some(n.parse().ok());
            rest = &head[..head.len() - 1];
        }
    }
    if at && (parents.is_some() || children.is_some()) {
        return Err(bad("@ cannot be combined with + operators"));
    }
    let (method, value) = match rest.split_once(':') {
        Some((m, v)) => (m.to_string(), v.to_string()),
        None => (String::new(), rest.to_string()),
    };
    if value.is_empty() {
        return Err(bad("empty selector"));
    }
    Ok(Atom {
        at,
        parents,
        children,
        method,
        value,
    })
}

fn glob(pattern: &str, s: &str) -> bool {
    if !pattern.contains('*') && !pattern.contains('?') {
        return pattern == s;
    }
    // simple fnmatch: * and ?
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pattern.as_bytes(), s.as_bytes())
}

fn fqn_match(fqn: &[String], sel: &str) -> bool {
    if fqn.last().is_some_and(|l| glob(sel, l)) {
        return true;
    }
    let parts: Vec<&str> = sel.split('.').collect();
    let try_from = |f: &[String]| {
        if f.len() < parts.len() {
            return false;
        }
        for (i, p) in parts.iter().enumerate() {
            if *p == "*" {
                return true;
            }
            if !glob(p, &f[i]) {
                return false;
            }
        }
        true
    };
    try_from(fqn) || (fqn.len() > 1 && try_from(&fqn[1..]))
}

fn matches(node: &Node, method: &str, value: &str) -> Result<bool> {
    Ok(match method {
        "" => {
            if value.contains('/') || value.ends_with(".sql") || value.ends_with(".csv") {
                path_match(node, value)
            } else {
                fqn_match(&node.fqn, value)
            }
        }
        "fqn" => fqn_match(&node.fqn, value),
        "path" | "file" => path_match(node, value),
        "tag" => node.config.tags().iter().any(|t| glob(value, t)),
        "resource_type" => node.resource_type.as_str() == value,
        "package" => glob(value, &node.package_name),
        m if m.starts_with("config.") => {
            let key = &m["config.".len()..];
            match node.config.get(key) {
                Some(serde_json::Value::String(s)) => glob(value, s),
                Some(serde_json::Value::Array(a)) => {
                    a.iter().any(|x| x.as_str().is_some_and(|s| glob(value, s)))
                }
                Some(other) => {
                    serde_json::from_str::<serde_json::Value>(value)
                        .ok()
                        .as_ref()
                        == Some(other)
                }
                None => key == "materialized" && value == node.config.materialized(),
            }
        }
        other => {
            return Err(Error::Selector {
                selector: format!("{other}:{value}"),
                message: format!("unknown selector method {other:?}"),
            })
        }
    })
}

fn path_match(node: &Node, value: &str) -> bool {
    let v = value.trim_start_matches("./").trim_end_matches('/');
    let p = &node.original_file_path;
    p == v || p.starts_with(&format!("{v}/")) || glob(v, p)
}

/// `test_type:` and `test_name:`, which need the tests' metadata.
fn matches_test(m: &Manifest, node: &Node, method: &str, value: &str) -> Option<bool> {
    let meta = m.tests.get(&node.unique_id);
    match method {
        "test_type" => Some(match value {
            "data" => meta.is_some(),
            "unit" => m.unit_tests.contains_key(&node.unique_id),
            _ => meta.is_some_and(|t| t.test_type() == value),
        }),
        "test_name" => Some(
            meta.and_then(|t| t.test_name())
                .is_some_and(|n| glob(value, n)),
        ),
        _ => None,
    }
}

fn select_atom(m: &Manifest, dag: &Dag, atom: &Atom) -> Result<BTreeSet<String>> {
    let mut base = BTreeSet::new();
    for n in m.nodes.values() {
        let hit = match matches_test(m, n, &atom.method, &atom.value) {
            Some(b) => b,
            None => matches(n, &atom.method, &atom.value)?,
        };
        if hit {
            base.insert(n.unique_id.clone());
        }
    }
    let mut out = base.clone();
    for id in &base {
        if atom.at {
            for d in dag.descendants(id, None).into_iter().chain([id.clone()]) {
                out.extend(dag.ancestors(&d, None));
                out.insert(d);
            }
        }
        if let Some(depth) = atom.parents {
            out.extend(dag.ancestors(id, depth));
        }
        if let Some(depth) = atom.children {
            out.extend(dag.descendants(id, depth));
        }
    }
    // dbt's default indirect selection (`eager`): the tests of any selected
    // node come along
    let tests: Vec<String> = out
        .iter()
        .flat_map(|id| dag.children(id))
        .filter(|c| m.tests.contains_key(c))
        .collect();
    out.extend(tests);
    // and the unit tests of any selected model
    let units: Vec<String> = m
        .unit_tests
        .iter()
        .filter(|(_, u)| out.contains(&u.model_id))
        .map(|(id, _)| id.clone())
        .collect();
    out.extend(units);
    Ok(out)
}

/// Evaluate one `--select` expression list (the values of the flag; each may hold spaces).
pub(crate) fn evaluate(m: &Manifest, dag: &Dag, exprs: &[String]) -> Result<BTreeSet<String>> {
    let mut union = BTreeSet::new();
    for expr in exprs {
        for term in expr.split_whitespace() {
            let mut inter: Option<BTreeSet<String>> = None;
            for a in term.split(',').filter(|a| !a.is_empty()) {
                let s = select_atom(m, dag, &parse_atom(a)?)?;
                inter = Some(match inter {
                    None => s,
                    Some(prev) => prev.intersection(&s).cloned().collect(),
                });
            }
            union.extend(inter.unwrap_or_default());
        }
    }
    Ok(union)
}

/// The selected unique ids: all nodes when `select` is empty, minus `exclude`.
pub fn select(
    m: &Manifest,
    dag: &Dag,
    select: &[String],
    exclude: &[String],
) -> Result<BTreeSet<String>> {
    let mut chosen = if select.iter().all(|s| s.trim().is_empty()) {
        m.nodes.keys().cloned().collect()
    } else {
        evaluate(m, dag, select)?
    };
    if !exclude.is_empty() {
        let ex = evaluate(m, dag, exclude)?;
        chosen.retain(|id| !ex.contains(id));
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_atoms() {
        let a = parse_atom("2+tag:nightly+").unwrap();
        assert_eq!(a.parents, Some(Some(2)));
        assert_eq!(a.children, Some(None));
        assert_eq!(a.method, "tag");
        let a = parse_atom("orders+1").unwrap();
        assert_eq!(a.children, Some(Some(1)));
        assert_eq!(a.value, "orders");
        let a = parse_atom("@orders").unwrap();
        assert!(a.at);
        assert!(parse_atom("@+x").is_err());
        assert!(parse_atom("tag:").is_err());
    }

    #[test]
    fn fqn_and_globs() {
        let fqn: Vec<String> = ["p", "staging", "stg_orders"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(fqn_match(&fqn, "stg_orders"));
        assert!(fqn_match(&fqn, "staging"));
        assert!(fqn_match(&fqn, "p.staging.*"));
        assert!(fqn_match(&fqn, "stg_*"));
        assert!(!fqn_match(&fqn, "marts"));
    }
}
