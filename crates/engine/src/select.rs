//! Node selection, as `--select`/`--exclude`
//! (<https://docs.getdbt.com/reference/node-selection/syntax>): spaces are
//! unions, commas intersections; atoms are names/fqns, `path:`, `tag:`,
//! `config.<key>:`, `resource_type:`, `package:`, `fqn:`, `source:`,
//! `exposure:`, `metric:`/`semantic_model:`/`saved_query:` (these select
//! nothing themselves: with `+`, what they read),
//! `test_type:`, `test_name:`, `state:`/`result:`/`source_status:` (with
//! `--state`, see [`crate::state`]), with `+`/`n+` on either side and `@`; tests
//! come along with the nodes they test as `--indirect-selection` says.

use std::collections::{BTreeSet, HashMap};

use crate::config::ConfigExt;
use crate::error::{Error, Result};
use crate::graph::Dag;
use crate::manifest::{Manifest, Node};
use crate::state::State;

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
        "exposure" => {
            node.resource_type == crate::manifest::ResourceType::Exposure && glob(value, &node.name)
        }
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

/// dbt's `--indirect-selection`: which tests come along with the nodes
/// they test (<https://docs.getdbt.com/reference/node-selection/test-selection-examples>).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IndirectSelection {
    /// A test comes when any node it reads is selected (dbt's default).
    #[default]
    Eager,
    /// Only when every node it reads is selected.
    Cautious,
    /// When every node it reads is selected or is upstream of the selection.
    Buildable,
    /// Tests come only when selected themselves.
    Empty,
}

impl IndirectSelection {
    /// The flag's value as dbt writes it in run_results.json `args`.
    pub fn as_str(&self) -> &'static str {
        match self {
            IndirectSelection::Eager => "eager",
            IndirectSelection::Cautious => "cautious",
            IndirectSelection::Buildable => "buildable",
            IndirectSelection::Empty => "empty",
        }
    }
}

impl std::str::FromStr for IndirectSelection {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "eager" => Ok(IndirectSelection::Eager),
            "cautious" => Ok(IndirectSelection::Cautious),
            "buildable" => Ok(IndirectSelection::Buildable),
            "empty" => Ok(IndirectSelection::Empty),
            other => Err(format!(
                "invalid indirect selection {other:?}: expected eager, cautious, buildable or empty"
            )),
        }
    }
}

/// The graph selection walks: the DAG plus what it leaves out, sources
/// (parents of the nodes reading them) and unit tests (children of their
/// model only), so that `source:raw+` and the indirect selection of tests on
/// sources work as in dbt, whose graph holds both.
struct SelGraph<'a> {
    m: &'a Manifest,
    dag: &'a Dag,
    readers: HashMap<&'a str, Vec<&'a str>>,
    units: HashMap<&'a str, Vec<&'a str>>,
    /// `--state`: what `state:`, `result:` and `source_status:` compare with.
    state: Option<&'a State>,
    /// The current manifest against the state's, built at the first
    /// `state:` selector.
    comparison: std::cell::OnceCell<crate::state::Comparison<'a>>,
}

impl<'a> SelGraph<'a> {
    fn new(m: &'a Manifest, dag: &'a Dag) -> Self {
        let mut readers: HashMap<&str, Vec<&str>> = HashMap::new();
        for n in m.nodes.values() {
            if m.unit_tests.contains_key(&n.unique_id) {
                continue;
            }
            for d in &n.depends_on {
                if d.starts_with("source.") {
                    readers.entry(d).or_default().push(&n.unique_id);
                }
            }
        }
        let mut units: HashMap<&str, Vec<&str>> = HashMap::new();
        for (id, u) in &m.unit_tests {
            units.entry(&u.model_id).or_default().push(id);
        }
        SelGraph {
            m,
            dag,
            readers,
            units,
            state: None,
            comparison: std::cell::OnceCell::new(),
        }
    }

    fn with_state(mut self, state: Option<&'a State>) -> Self {
        self.state = state;
        self
    }

    /// The ids `state:`, `result:` or `source_status:` select, or `None`
    /// for other methods.
    fn state_method(&self, method: &str, value: &str) -> Result<Option<BTreeSet<String>>> {
        if !matches!(method, "state" | "result" | "source_status") {
            return Ok(None);
        }
        let state = self.state.ok_or_else(|| Error::Selector {
            selector: format!("{method}:{value}"),
            message:
                "this selector compares with an earlier run: give its artifacts with --state DIR"
                    .into(),
        })?;
        let m = self.m;
        let candidates = m.nodes.keys().chain(m.sources.keys());
        let known = |ids: BTreeSet<String>| -> BTreeSet<String> {
            ids.into_iter()
                .filter(|id| m.nodes.contains_key(id) || m.sources.contains_key(id))
                .collect()
        };
        Ok(Some(match method {
            "state" => {
                let c = self.comparison.get_or_init(|| {
                    let current = crate::artifacts::manifest_json(m, self.dag, &Default::default());
                    crate::state::Comparison::new(state, current)
                });
                c.select(candidates.map(String::as_str), value)?
            }
            "result" => known(crate::state::result_ids(state, value)?),
            _ => {
                let p = &m.info.project;
                let path = p.root.join(&p.target_path).join("sources.json");
                let current = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
                known(crate::state::fresher_sources(
                    state,
                    current.as_ref(),
                    value,
                )?)
            }
        }))
    }

    /// What a node reads: nodes and sources (a unit test: its model).
    fn deps(&self, id: &str) -> Vec<String> {
        if let Some(u) = self.m.unit_tests.get(id) {
            return vec![u.model_id.clone()];
        }
        self.m
            .nodes
            .get(id)
            .map(|n| n.depends_on.clone())
            .unwrap_or_default()
    }

    fn parents(&self, id: &str) -> Vec<String> {
        if self.m.unit_tests.contains_key(id) {
            return self.deps(id);
        }
        let mut out = self.dag.parents(id);
        for d in self.deps(id) {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    fn children(&self, id: &str) -> Vec<String> {
        // a unit test is the child of its model only (dbt's graph), not
        // of what the model reads
        let mut out: Vec<String> = match self.readers.get(id) {
            Some(r) => r.iter().map(|s| s.to_string()).collect(),
            None => self
                .dag
                .children(id)
                .into_iter()
                .filter(|c| !self.m.unit_tests.contains_key(c))
                .collect(),
        };
        if let Some(u) = self.units.get(id) {
            out.extend(u.iter().map(|s| s.to_string()));
        }
        out
    }

    fn walk(&self, start: &str, depth: Option<usize>, up: bool) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut frontier = vec![start.to_string()];
        let mut level = 0;
        while !frontier.is_empty() && depth.is_none_or(|d| level < d) {
            let mut next = vec![];
            for n in frontier {
                let near = if up {
                    self.parents(&n)
                } else {
                    self.children(&n)
                };
                for c in near {
                    if c != start && out.insert(c.clone()) {
                        next.push(c);
                    }
                }
            }
            frontier = next;
            level += 1;
        }
        out
    }

    fn is_test(&self, id: &str) -> bool {
        self.m.tests.contains_key(id) || self.m.unit_tests.contains_key(id)
    }
}

/// `test_type:` and `test_name:`, which need the tests' metadata.
fn matches_test(m: &Manifest, node: &Node, method: &str, value: &str) -> Result<Option<bool>> {
    let meta = m.tests.get(&node.unique_id);
    Ok(match method {
        "test_type" => Some(match value {
            "data" => meta.is_some(),
            "unit" => m.unit_tests.contains_key(&node.unique_id),
            "generic" | "schema" => meta.is_some_and(|t| t.test_type() == "generic"),
            "singular" => meta.is_some_and(|t| t.test_type() == "singular"),
            other => {
                return Err(Error::Selector {
                    selector: format!("test_type:{other}"),
                    message: "expected generic, singular, unit or data".into(),
                })
            }
        }),
        "test_name" => Some(match m.unit_tests.get(&node.unique_id) {
            Some(u) => glob(value, &u.name),
            None => meta
                .and_then(|t| t.test_name())
                .is_some_and(|n| glob(value, n)),
        }),
        _ => None,
    })
}

/// `source:name`, `source:name.table`, `source:package.name.table` (globs),
/// as dbt's `SourceSelectorMethod`: the unique ids of the sources.
fn matching_sources(m: &Manifest, value: &str) -> Result<Vec<String>> {
    let parts: Vec<&str> = value.split('.').collect();
    let (pkg, src, table) = match parts.as_slice() {
        [s] => ("*", *s, "*"),
        [s, t] => ("*", *s, *t),
        [p, s, t] => (*p, *s, *t),
        _ => {
            return Err(Error::Selector {
                selector: format!("source:{value}"),
                message: "sources are selected as source:<source>, source:<source>.<table> or source:<package>.<source>.<table>".into(),
            })
        }
    };
    Ok(m.sources
        .values()
        .filter(|s| {
            let package = s.unique_id.split('.').nth(1).unwrap_or_default();
            glob(pkg, package) && glob(src, &s.table.source_name) && glob(table, &s.table.name)
        })
        .map(|s| s.unique_id.clone())
        .collect())
}

/// What one selector (or a combination) chose: dbt's (direct, indirect)
/// pair; `indirect` holds tests waiting for their other parents
/// (`cautious`/`buildable`).
type Chosen = (BTreeSet<String>, BTreeSet<String>);

fn select_atom(g: &SelGraph<'_>, atom: &Atom, mode: IndirectSelection) -> Result<Chosen> {
    let m = g.m;
    let mut base = BTreeSet::new();
    if atom.method == "source" {
        base.extend(matching_sources(m, &atom.value)?);
    } else if atom.method == "resource_type" && atom.value == "source" {
        base.extend(m.sources.keys().cloned());
    } else if let Some(kind) = resource_kind(&atom.method) {
        // metrics, semantic models and saved queries run nothing: they
        // select only through `+` (the nodes they read and their parents)
        let mut selected = BTreeSet::new();
        if let Some(depth) = atom.parents {
            for r in m
                .resources
                .iter()
                .filter(|r| r.kind == kind && glob(&atom.value, &r.name))
            {
                for p in resource_parents(m, &r.unique_id) {
                    selected.extend(g.walk(&p, depth.map(|d| d.saturating_sub(1)), true));
                    selected.insert(p);
                }
            }
        }
        if mode == IndirectSelection::Empty {
            return Ok((selected, BTreeSet::new()));
        }
        return Ok(expand(g, selected, mode));
    } else if let Some(ids) = g.state_method(&atom.method, &atom.value)? {
        base = ids;
    } else {
        for n in m.nodes.values() {
            let hit = match matches_test(m, n, &atom.method, &atom.value)? {
                Some(b) => b,
                None => matches(n, &atom.method, &atom.value)?,
            };
            if hit {
                base.insert(n.unique_id.clone());
            }
        }
    }
    let mut selected = base.clone();
    for id in &base {
        if atom.at {
            for d in g.walk(id, None, false).into_iter().chain([id.clone()]) {
                selected.extend(g.walk(&d, None, true));
                selected.insert(d);
            }
        }
        if let Some(depth) = atom.parents {
            selected.extend(g.walk(id, depth, true));
        }
        if let Some(depth) = atom.children {
            selected.extend(g.walk(id, depth, false));
        }
    }
    if mode == IndirectSelection::Empty {
        return Ok((selected, BTreeSet::new()));
    }
    Ok(expand(g, selected, mode))
}

/// The properties key of a selector method naming a resource that is not a
/// node (`metric:`, `semantic_model:`, `saved_query:`).
fn resource_kind(method: &str) -> Option<&'static str> {
    match method {
        "metric" => Some("metrics"),
        "semantic_model" => Some("semantic_models"),
        "saved_query" => Some("saved_queries"),
        _ => None,
    }
}

/// The nodes and sources a resource reads, through the metrics and
/// semantic models between (a metric reads its semantic model's model).
fn resource_parents(m: &Manifest, id: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![id.to_string()];
    while let Some(cur) = stack.pop() {
        if !seen.insert(cur.clone()) {
            continue;
        }
        let Some(r) = m.resources.iter().find(|r| r.unique_id == cur) else {
            continue;
        };
        for d in r.json["depends_on"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
        {
            if m.nodes.contains_key(d) || m.sources.contains_key(d) {
                out.insert(d.to_string());
            } else {
                stack.push(d.to_string());
            }
        }
    }
    out
}

/// dbt's `expand_selection`: the tests of the selected nodes, directly
/// chosen or kept aside by the mode.
fn expand(g: &SelGraph<'_>, selected: BTreeSet<String>, mode: IndirectSelection) -> Chosen {
    let buildable_scope: BTreeSet<String> = if mode == IndirectSelection::Buildable {
        let mut s = selected.clone();
        for id in &selected {
            s.extend(g.walk(id, None, true));
        }
        s.extend(g.m.sources.keys().cloned());
        s
    } else {
        BTreeSet::new()
    };
    let mut direct = selected.clone();
    let mut indirect = BTreeSet::new();
    for id in &selected {
        for c in g.children(id) {
            if !g.is_test(&c) || direct.contains(&c) {
                continue;
            }
            let deps = g.deps(&c);
            let joins = mode == IndirectSelection::Eager
                || deps.iter().all(|d| selected.contains(d))
                || (mode == IndirectSelection::Buildable
                    && deps.iter().all(|d| buildable_scope.contains(d)));
            if joins {
                direct.insert(c);
            } else {
                indirect.insert(c);
            }
        }
    }
    (direct, indirect)
}

/// dbt's `incorporate_indirect_nodes`: after a union, intersection or
/// difference, a test kept aside joins when all its parents are now there.
fn incorporate(
    g: &SelGraph<'_>,
    direct: BTreeSet<String>,
    indirect: &BTreeSet<String>,
    mode: IndirectSelection,
) -> BTreeSet<String> {
    if &direct == indirect {
        return direct;
    }
    let mut selected = direct;
    let scope: BTreeSet<String> = match mode {
        IndirectSelection::Cautious => selected.clone(),
        IndirectSelection::Buildable => {
            let mut s = selected.clone();
            for id in &selected {
                s.extend(g.walk(id, None, true));
            }
            s
        }
        _ => return selected,
    };
    for id in indirect {
        if g.deps(id).iter().all(|d| scope.contains(d)) {
            selected.insert(id.clone());
        }
    }
    selected
}

/// Combine (direct, indirect) pairs as dbt's union/intersection/difference.
fn combine(g: &SelGraph<'_>, parts: Vec<Chosen>, op: Op, mode: IndirectSelection) -> Chosen {
    let apply = |sets: Vec<BTreeSet<String>>| -> BTreeSet<String> {
        let mut it = sets.into_iter();
        let Some(first) = it.next() else {
            return BTreeSet::new();
        };
        match op {
            Op::Union => it.fold(first, |a, b| a.union(&b).cloned().collect()),
            Op::Intersection => it.fold(first, |a, b| a.intersection(&b).cloned().collect()),
            Op::Difference => {
                let rest: BTreeSet<String> = it.flatten().collect();
                first.difference(&rest).cloned().collect()
            }
        }
    };
    let directs: Vec<BTreeSet<String>> = parts.iter().map(|(d, _)| d.clone()).collect();
    let indirects: Vec<BTreeSet<String>> = parts
        .into_iter()
        .map(|(d, i)| d.union(&i).cloned().collect())
        .collect();
    let direct = apply(directs);
    let indirect = apply(indirects);
    let direct = incorporate(g, direct, &indirect, mode);
    (direct, indirect)
}

#[derive(Clone, Copy)]
enum Op {
    Union,
    Intersection,
    Difference,
}

/// One `--select`/`--exclude` list: spaces and repeated flags are unions,
/// commas intersections.
fn evaluate_pair(g: &SelGraph<'_>, exprs: &[String], mode: IndirectSelection) -> Result<Chosen> {
    let mut terms = Vec::new();
    for expr in exprs {
        for term in expr.split_whitespace() {
            let mut atoms = Vec::new();
            for a in term.split(',').filter(|a| !a.is_empty()) {
                atoms.push(select_atom(g, &parse_atom(a)?, mode)?);
            }
            terms.push(if atoms.len() == 1 {
                atoms.remove(0)
            } else {
                combine(g, atoms, Op::Intersection, mode)
            });
        }
    }
    Ok(if terms.len() == 1 {
        terms.remove(0)
    } else {
        combine(g, terms, Op::Union, mode)
    })
}

/// Evaluate one `--select` expression list (the values of the flag; each may hold spaces).
pub(crate) fn evaluate(
    m: &Manifest,
    dag: &Dag,
    exprs: &[String],
    mode: IndirectSelection,
    state: Option<&State>,
) -> Result<BTreeSet<String>> {
    let g = SelGraph::new(m, dag).with_state(state);
    let (direct, _) = evaluate_pair(&g, exprs, mode)?;
    Ok(only_nodes(m, direct))
}

/// Sources take part in selection but are not run: leave them out.
fn only_nodes(m: &Manifest, ids: BTreeSet<String>) -> BTreeSet<String> {
    ids.into_iter()
        .filter(|id| m.nodes.contains_key(id))
        .collect()
}

/// The selected unique ids: all nodes when `select` is empty, minus `exclude`.
pub fn select(
    m: &Manifest,
    dag: &Dag,
    select: &[String],
    exclude: &[String],
    mode: IndirectSelection,
) -> Result<BTreeSet<String>> {
    select_with_state(m, dag, select, exclude, mode, None)
}

/// [`select`] with `--state`'s artifacts for `state:`, `result:` and
/// `source_status:`.
pub fn select_with_state(
    m: &Manifest,
    dag: &Dag,
    select: &[String],
    exclude: &[String],
    mode: IndirectSelection,
    state: Option<&State>,
) -> Result<BTreeSet<String>> {
    let all = || m.nodes.keys().cloned().collect();
    let chosen = chosen_ids(m, dag, select, exclude, mode, state, all)?;
    Ok(only_nodes(m, chosen))
}

/// What `select` minus `exclude` chooses, nodes and sources alike;
/// `everything` when `select` is empty.
fn chosen_ids(
    m: &Manifest,
    dag: &Dag,
    select: &[String],
    exclude: &[String],
    mode: IndirectSelection,
    state: Option<&State>,
    everything: impl FnOnce() -> BTreeSet<String>,
) -> Result<BTreeSet<String>> {
    let g = SelGraph::new(m, dag).with_state(state);
    let include = if select.iter().all(|s| s.trim().is_empty()) {
        (everything(), BTreeSet::new())
    } else {
        evaluate_pair(&g, select, mode)?
    };
    if exclude.iter().all(|s| s.trim().is_empty()) {
        return Ok(include.0);
    }
    let ex = evaluate_pair(&g, exclude, mode)?;
    Ok(combine(&g, vec![include, ex], Op::Difference, mode).0)
}

/// The sources `select`/`exclude` choose (all of them when `select` is
/// empty): what `ls` lists beside the nodes, as `dbt ls` does. Nothing
/// runs a source, so the other commands leave them out.
pub fn selected_sources(
    m: &Manifest,
    dag: &Dag,
    select: &[String],
    exclude: &[String],
    mode: IndirectSelection,
    state: Option<&State>,
) -> Result<BTreeSet<String>> {
    let all = || m.sources.keys().cloned().collect();
    let chosen = chosen_ids(m, dag, select, exclude, mode, state, all)?;
    Ok(chosen
        .into_iter()
        .filter(|id| m.sources.contains_key(id))
        .collect())
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
