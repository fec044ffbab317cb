//! Unit tests (dbt 1.8+, <https://docs.getdbt.com/docs/build/unit-tests>):
//! `unit_tests:` in properties files run a model's SQL on fixed inputs and
//! compare the result with the expected rows, without touching the
//! warehouse's tables.
//!
//! As in dbt, each `given` input replaces its `ref()`/`source()` (or
//! `this`) with a CTE `__dbt__cte__<name>` holding the fixture rows, cast to
//! the input relation's real column types (so the upstream relation must
//! exist, as with dbt); the expected rows are cast to the model's output
//! types. Rows are compared as multisets on the expected columns; a failure
//! prints both sides' differing rows.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use crate::config::{Config, ConfigExt};
use crate::error::{Error, Result};
use crate::jinja::{NodeCtx, Resolver};
use crate::manifest::{Given, InputTarget, Manifest, Node, ResourceType, Rows, UnitTest};
use crate::project::Project;
use crate::relation::{quote, Relation};
use crate::results::{Command, NodeResult, RunOptions, Status};
use dbt_jinja::database::Database;

fn parse_input(s: &str) -> Option<InputTarget> {
    let t = s.trim();
    if t == "this" {
        return Some(InputTarget::This);
    }
    let args = |inner: &str| -> Vec<String> {
        inner
            .split(',')
            .map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
            .filter(|a| !a.is_empty())
            .collect()
    };
    if let Some(inner) = t.strip_prefix("ref(").and_then(|r| r.strip_suffix(')')) {
        let a = args(inner);
        return a.last().cloned().map(InputTarget::Ref);
    }
    if let Some(inner) = t.strip_prefix("source(").and_then(|r| r.strip_suffix(')')) {
        let a = args(inner);
        if a.len() == 2 {
            return Some(InputTarget::Source(a[0].clone(), a[1].clone()));
        }
    }
    None
}

/// CSV text to rows of strings (empty cells are NULL).
fn csv_rows(text: &str) -> std::result::Result<Vec<Map<String, Value>>, String> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.trim().as_bytes());
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let mut m = Map::new();
        for (h, v) in headers.iter().zip(rec.iter()) {
            m.insert(
                h.to_string(),
                if v.is_empty() || v == "null" {
                    Value::Null
                } else {
                    Value::from(v)
                },
            );
        }
        out.push(m);
    }
    Ok(out)
}

/// `rows`/`format`/`fixture` of a given or expect block.
fn parse_rows(project: &Project, v: &Value) -> std::result::Result<Rows, String> {
    let format = v.get("format").and_then(|f| f.as_str()).unwrap_or("dict");
    let text = match (v.get("rows"), v.get("fixture")) {
        (Some(r), _) => r.clone(),
        (None, Some(Value::String(name))) => {
            let ext = if format == "sql" { "sql" } else { "csv" };
            let mut found = None;
            for tp in &project.test_paths {
                let p = project.root.join(tp).join("fixtures");
                for (abs, rel) in crate::manifest::walk(&p, &[ext]).map_err(|e| e.to_string())? {
                    if Path::new(&rel).file_stem().and_then(|s| s.to_str()) == Some(name) {
                        found = Some(abs);
                    }
                }
            }
            let Some(abs) = found else {
                return Err(format!(
                    "fixture {name:?}: no {name}.{ext} in <test-path>/fixtures/"
                ));
            };
            Value::from(
                std::fs::read_to_string(&abs).map_err(|e| format!("{}: {e}", abs.display()))?,
            )
        }
        (None, _) => Value::Array(vec![]),
    };
    match format {
        "dict" => match text {
            Value::Array(a) => a
                .into_iter()
                .enumerate()
                .map(|(i, r)| match r {
                    Value::Object(m) => Ok(m),
                    other => Err(format!("rows[{i}]: expected a mapping, found {other}")),
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Rows::Dicts),
            Value::Null => Ok(Rows::Dicts(vec![])),
            other => Err(format!("rows: expected a list of mappings, found {other}")),
        },
        "csv" => match text {
            Value::String(s) => csv_rows(&s)
                .map(Rows::Dicts)
                .map_err(|e| format!("rows (csv): {e}")),
            other => Err(format!("rows: format csv expects a string, found {other}")),
        },
        "sql" => match text {
            Value::String(s) => Ok(Rows::Sql(s)),
            other => Err(format!("rows: format sql expects a string, found {other}")),
        },
        other => Err(format!(
            "format: expected dict, csv or sql, found {other:?}"
        )),
    }
}

/// Parse every `unit_tests:` entry; add each as a node (resource type
/// `unit_test`) reading what its model reads, so it runs after them.
pub fn discover(
    project: &Project,
    entries: &[(String, Value)],
    nodes: &mut IndexMap<String, Node>,
    errors: &mut Vec<String>,
) -> IndexMap<String, UnitTest> {
    let mut out = IndexMap::new();
    for (file, v) in entries {
        let name = v
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        let bad = |m: String| format!("{file}: key unit_tests.{name}: {m}");
        if name.is_empty() {
            errors.push(format!("{file}: key unit_tests: an entry has no name"));
            continue;
        }
        let Some(model) = v.get("model").and_then(|n| n.as_str()).map(String::from) else {
            errors.push(bad("key model: which model does it test?".into()));
            continue;
        };
        let model_id = format!("model.{}.{model}", project.name);
        let Some(mnode) = nodes.get(&model_id).cloned() else {
            let names: Vec<&str> = nodes
                .values()
                .filter(|n| n.resource_type == ResourceType::Model)
                .map(|n| n.name.as_str())
                .collect();
            let close = crate::manifest::closest(&model, names.into_iter());
            let hint = if close.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", close.join(", "))
            };
            errors.push(bad(format!("model {model:?} was not found{hint}")));
            continue;
        };
        let mut config = Config::new();
        if let Some(Value::Object(c)) = v.get("config") {
            crate::config::merge(&mut config, c);
        }
        if !config.enabled() {
            continue;
        }
        let mut given = Vec::new();
        let mut ok = true;
        for (i, g) in v
            .get("given")
            .and_then(|g| g.as_array())
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let input = g
                .get("input")
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string();
            let Some(target) = parse_input(&input) else {
                errors.push(bad(format!("given[{i}].input: expected ref('model'), source('source', 'table') or this, found {input:?}")));
                ok = false;
                continue;
            };
            match parse_rows(project, &g) {
                Ok(rows) => given.push(Given {
                    input,
                    target,
                    rows,
                    raw: g.clone(),
                }),
                Err(e) => {
                    errors.push(bad(format!("given[{i}]: {e}")));
                    ok = false;
                }
            }
        }
        let expect = match v.get("expect") {
            Some(e) => match parse_rows(project, e) {
                Ok(r) => r,
                Err(e) => {
                    errors.push(bad(format!("expect: {e}")));
                    continue;
                }
            },
            None => {
                errors.push(bad("key expect: the expected rows are missing".into()));
                continue;
            }
        };
        if !ok {
            continue;
        }
        let overrides = v
            .get("overrides")
            .and_then(|o| o.as_object())
            .cloned()
            .unwrap_or_default();
        let unique_id = format!("unit_test.{}.{model}.{name}", project.name);
        if out.contains_key(&unique_id) {
            errors.push(bad(format!(
                "model {model} has two unit tests named {name}"
            )));
            continue;
        }
        let mut fqn: Vec<String> = mnode.fqn[..mnode.fqn.len().saturating_sub(1)].to_vec();
        fqn.push(model.clone());
        fqn.push(name.clone());
        let mut node_cfg = config.clone();
        node_cfg.insert("materialized".into(), Value::from("unit"));
        let node = Node {
            original_file_path: file.clone(),
            path: file
                .split_once('/')
                .map(|(_, r)| r.to_string())
                .unwrap_or_else(|| file.clone()),
            fqn,
            config: node_cfg,
            description: v
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or_default()
                .to_string(),
            refs: mnode.refs.clone(),
            sources: mnode.sources.clone(),
            database: mnode.database.clone(),
            schema: mnode.schema.clone(),
            quoting: mnode.quoting,
            ..Node::new(
                unique_id.clone(),
                ResourceType::Unit,
                name.clone(),
                project.name.clone(),
            )
        };
        nodes.insert(unique_id.clone(), node);
        out.insert(
            unique_id.clone(),
            UnitTest {
                unique_id,
                name,
                model,
                model_id,
                file: file.clone(),
                description: v
                    .get("description")
                    .and_then(|d| d.as_str())
                    .unwrap_or_default()
                    .to_string(),
                given,
                expect,
                overrides,
                raw: v.clone(),
                config,
            },
        );
    }
    out
}

/// Refs and sources of the model under test, pointed at the fixtures.
struct FixtureResolver {
    refs: HashMap<String, Relation>,
    sources: HashMap<(String, String), Relation>,
    test: String,
}

impl Resolver for FixtureResolver {
    fn resolve_ref(
        &self,
        _p: Option<&str>,
        name: &str,
    ) -> std::result::Result<(Relation, Option<String>), String> {
        self.refs.get(name).cloned().map(|r| (r, None)).ok_or_else(|| {
            format!("unit test {}: the model reads ref('{name}'), which is not among its given inputs (add `- input: ref('{name}')` under given:)", self.test)
        })
    }
    fn resolve_source(&self, source: &str, table: &str) -> std::result::Result<Relation, String> {
        self.sources.get(&(source.to_string(), table.to_string())).cloned().ok_or_else(|| {
            format!("unit test {}: the model reads source('{source}', '{table}'), which is not among its given inputs", self.test)
        })
    }
}

fn sql_literal(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

/// dbt's `get_fixture_sql`: one `select` per row, every column of the
/// relation cast to its type (missing ones NULL), joined by `union all`.
fn fixture_sql(
    rows: &[Map<String, Value>],
    types: &[(String, String)],
    what: &str,
) -> std::result::Result<String, String> {
    let lower: Vec<String> = types.iter().map(|(c, _)| c.to_lowercase()).collect();
    let mut selects = Vec::new();
    for row in rows {
        for k in row.keys() {
            if !lower.contains(&k.to_lowercase()) {
                return Err(format!(
                    "Invalid column name: '{k}' in unit test fixture for {what}. Accepted columns for {what} are: {:?}",
                    lower
                ));
            }
        }
        let cols: Vec<String> = types
            .iter()
            .map(|(c, t)| {
                let v = row
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(c))
                    .map(|(_, v)| sql_literal(v))
                    .unwrap_or_else(|| "null".into());
                format!("cast({v} as {t}) as {}", quote(c))
            })
            .collect();
        selects.push(format!("select {}", cols.join(", ")));
    }
    if selects.is_empty() {
        let cols: Vec<String> = types
            .iter()
            .map(|(c, t)| format!("cast(null as {t}) as {}", quote(c)))
            .collect();
        return Ok(format!("select {}\nlimit 0", cols.join(", ")));
    }
    Ok(selects.join("\nunion all\n"))
}

/// Compile the model under test with its inputs replaced by fixtures.
/// Returns the SQL and the expected rows' query with its column names.
fn compile_unit(
    m: &Manifest,
    u: &UnitTest,
    db: &Arc<dyn Database>,
) -> Result<(String, String, Vec<String>)> {
    let model = m.nodes.get(&u.model_id).ok_or_else(|| {
        Error::Internal(format!(
            "unit test {}: no model {}",
            u.unique_id, u.model_id
        ))
    })?;
    let fail = |msg: String| Error::Project(format!("unit test {} ({}): {msg}", u.name, u.file));
    let mut ctes = Vec::new();
    let mut refs = HashMap::new();
    let mut sources = HashMap::new();
    let mut this = model.relation();
    for g in &u.given {
        let (real, cte_name) = match &g.target {
            InputTarget::Ref(n) => {
                let node = m.nodes.values().find(|x| {
                    &x.name == n
                        && x.resource_type != ResourceType::Test
                        && x.resource_type != ResourceType::Unit
                });
                let Some(node) = node else {
                    return Err(fail(format!(
                        "given input ref('{n}'): no such model, seed or snapshot"
                    )));
                };
                // under --defer, a parent this run does not build is read
                // where the state has it (its columns type the fixture)
                let rel = m
                    .deferred
                    .get(&node.unique_id)
                    .cloned()
                    .unwrap_or_else(|| node.relation());
                (Some(rel).filter(|_| !node.is_ephemeral()), n.clone())
            }
            InputTarget::Source(s, t) => {
                let src = m
                    .sources
                    .values()
                    .find(|x| &x.table.source_name == s && &x.table.name == t);
                let Some(src) = src else {
                    return Err(fail(format!(
                        "given input source('{s}', '{t}'): no such source"
                    )));
                };
                (Some(src.relation.clone()), t.clone())
            }
            InputTarget::This => (Some(model.relation()), model.name.clone()),
        };
        let body = match &g.rows {
            Rows::Sql(s) => s.clone(),
            Rows::Dicts(rows) => {
                let types = match &real {
                    Some(r) => db.columns(r)?,
                    None => vec![],
                };
                if types.is_empty() {
                    return Err(fail(format!(
                        "Not able to get columns for unit test '{}' from relation {} because the relation doesn't exist (build it first, or give the input as format: sql)",
                        u.model,
                        real.map(|r| r.render()).unwrap_or_else(|| g.input.clone())
                    )));
                }
                fixture_sql(rows, &types, &format!("'{}'", g.input)).map_err(fail)?
            }
        };
        let cte = Relation::cte(&cte_name);
        match &g.target {
            InputTarget::Ref(n) => {
                refs.insert(n.clone(), cte.clone());
            }
            InputTarget::Source(s, t) => {
                sources.insert((s.clone(), t.clone()), cte.clone());
            }
            InputTarget::This => this = cte.clone(),
        }
        ctes.push(format!(
            " __dbt__cte__{cte_name} as (\n-- Fixture for {cte_name}\n{body}\n)"
        ));
    }
    let resolver: Arc<dyn Resolver> = Arc::new(FixtureResolver {
        refs,
        sources,
        test: u.name.clone(),
    });
    let ov = |k: &str| {
        u.overrides
            .get(k)
            .and_then(|v| v.as_object())
            .cloned()
            .unwrap_or_default()
    };
    let macros = ov("macros");
    let vars = ov("vars");
    let env_vars = ov("env_vars");
    let is_inc = macros
        .get("is_incremental")
        .is_some_and(|v| v.as_bool().unwrap_or(false));
    let ctx = Arc::new(NodeCtx {
        db: Some(db.clone()),
        is_incremental: is_inc,
        ..NodeCtx::new(
            model.unique_id.clone(),
            model.name.clone(),
            this,
            model.config.clone(),
            resolver,
            model.to_value(),
        )
    });
    let mut extra: BTreeMap<String, minijinja::Value> =
        crate::macros::unit_test_overrides(&m.env, &macros);
    if !vars.is_empty() {
        let base = m.info.vars.clone();
        extra.insert(
            "var".into(),
            minijinja::Value::from_function(
                move |name: String,
                      default: Option<minijinja::Value>|
                      -> std::result::Result<minijinja::Value, minijinja::Error> {
                    match vars.get(&name).or_else(|| base.get(&name)) {
                        Some(v) => Ok(minijinja::Value::from_serialize(v)),
                        None => default.ok_or_else(|| {
                            minijinja::Error::new(
                                minijinja::ErrorKind::InvalidOperation,
                                format!("Required var '{name}' not found in config"),
                            )
                        }),
                    }
                },
            ),
        );
    }
    if !env_vars.is_empty() {
        extra.insert(
            "env_var".into(),
            minijinja::Value::from_function(
                move |name: String,
                      default: Option<minijinja::Value>|
                      -> std::result::Result<minijinja::Value, minijinja::Error> {
                    match env_vars.get(&name) {
                        Some(Value::String(s)) => Ok(minijinja::Value::from(s.clone())),
                        Some(v) => Ok(minijinja::Value::from(v.to_string())),
                        None => crate::builtins::env_var(name, default),
                    }
                },
            ),
        );
    }
    let sql = model
        .render_with(&m.env, ctx, extra)
        .map_err(|e| Error::jinja(&u.unique_id, &model.original_file_path, &e))?;
    let sql = crate::compile::inject_ctes(&sql, &ctes);
    // expected rows, cast to the model's output types
    let (expected_sql, cols) = match &u.expect {
        Rows::Sql(s) => {
            let d = db.query(&format!("DESCRIBE {s}"))?;
            let cols = d.rows.iter().map(|r| r[0].to_string()).collect();
            (s.clone(), cols)
        }
        Rows::Dicts(rows) => {
            let d = db
                .query(&format!("DESCRIBE {sql}"))
                .map_err(|e| fail(format!("the model's SQL does not run on the fixtures: {e}")))?;
            let types: Vec<(String, String)> = d
                .rows
                .iter()
                .map(|r| (r[0].to_string(), r[1].to_string()))
                .collect();
            let mut cols: Vec<String> = Vec::new();
            for r in rows {
                for k in r.keys() {
                    if !cols.iter().any(|c| c.eq_ignore_ascii_case(k)) {
                        cols.push(k.clone());
                    }
                }
            }
            let used: Vec<(String, String)> = cols
                .iter()
                .map(|c| {
                    types
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(c))
                        .cloned()
                        .ok_or_else(|| fail(format!(
                            "Invalid column name: '{c}' in unit test fixture for expected output. Accepted columns for expected output are: {:?}",
                            types.iter().map(|t| t.0.to_lowercase()).collect::<Vec<_>>()
                        )))
                })
                .collect::<Result<_>>()?;
            let mut cols: Vec<String> = used.iter().map(|(n, _)| n.clone()).collect();
            if rows.is_empty() {
                // no rows name no columns: an empty result in the model's
                // own columns, as dbt expects it
                cols = types.iter().map(|(n, _)| n.clone()).collect();
                (
                    format!(
                        "select {} from ({sql}) _e limit 0",
                        cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
                    ),
                    cols,
                )
            } else {
                // only the given columns, each row's missing ones NULL
                let sub: Vec<Map<String, Value>> = rows.clone();
                (
                    fixture_sql(&sub, &used, "expected output").map_err(fail)?,
                    cols,
                )
            }
        }
    };
    Ok((sql, expected_sql, cols))
}

type Table = Vec<Vec<Option<String>>>;

fn fetch(db: &Arc<dyn Database>, sql: &str) -> Result<Table> {
    let q = db.query(sql)?;
    Ok(q.rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| {
                    if v.is_none() {
                        None
                    } else {
                        Some(v.to_string())
                    }
                })
                .collect()
        })
        .collect())
}

/// Expected vs actual, dbt-style: `@@` header, `+++` rows only in actual,
/// `---` rows only in expected.
fn render_diff(cols: &[String], expected: &Table, actual: &Table) -> Option<String> {
    let mut exp = expected.clone();
    let mut act = actual.clone();
    exp.sort();
    act.sort();
    if exp == act {
        return None;
    }
    let mut only_act = act.clone();
    let mut only_exp = Vec::new();
    for r in &exp {
        if let Some(i) = only_act.iter().position(|a| a == r) {
            only_act.remove(i);
        } else {
            only_exp.push(r.clone());
        }
    }
    let cell = |c: &Option<String>| c.clone().unwrap_or_else(|| "NULL".into());
    let mut lines: Vec<Vec<String>> = vec![std::iter::once("@@".to_string())
        .chain(cols.iter().cloned())
        .collect()];
    for r in &only_act {
        lines.push(
            std::iter::once("+++".to_string())
                .chain(r.iter().map(cell))
                .collect(),
        );
    }
    for r in &only_exp {
        lines.push(
            std::iter::once("---".to_string())
                .chain(r.iter().map(cell))
                .collect(),
        );
    }
    let n = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            lines
                .iter()
                .filter_map(|l| l.get(i))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let body: Vec<String> = lines
        .iter()
        .map(|l| {
            l.iter()
                .enumerate()
                .map(|(i, s)| format!("{s:<w$}", w = widths[i]))
                .collect::<Vec<_>>()
                .join(" | ")
                .trim_end()
                .to_string()
        })
        .collect();
    Some(format!(
        "actual differs from expected:\n\n{}\n",
        body.join("\n")
    ))
}

/// Run one unit test on `db`: its fixtures' column types come from the
/// database (`columns` of a `ref`'d relation, `DESCRIBE` of the model's SQL
/// on the fixtures), then both sides are fetched as text and compared.
pub fn run_unit_test(
    m: &Manifest,
    node: &Node,
    db: &Arc<dyn Database>,
    opts: &RunOptions,
) -> NodeResult {
    let t0 = Instant::now();
    let mut r = NodeResult::skipped(node.unique_id.clone(), String::new());
    r.started_at = Utc::now();
    let finish = |mut r: NodeResult| {
        r.completed_at = Utc::now();
        r.execution_time = t0.elapsed().as_secs_f64();
        r
    };
    let Some(u) = m.unit_tests.get(&node.unique_id) else {
        r.status = Status::Error;
        r.message = format!("internal error: no unit test {}", node.unique_id);
        return finish(r);
    };
    let compiled = compile_unit(m, u, db);
    r.compiled_at = Utc::now();
    let (sql, expected_sql, cols) = match compiled {
        Ok(c) => c,
        Err(e) => {
            r.status = Status::Error;
            r.message = format!("An error occurred during execution of unit test '{}'. There may be an error in the unit test definition: check the data types.\n {e}", u.name);
            return finish(r);
        }
    };
    r.compiled_sql = Some(sql.clone());
    if opts.command == Command::Compile {
        r.status = Status::Success;
        return finish(r);
    }
    let proj = |q: &str| {
        format!(
            "select {} from (\n{q}\n) _dbt_internal_unit_test",
            cols.iter()
                .map(|c| format!("cast({} as varchar)", quote(c)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let run_sql = format!(
        "-- Build actual result given inputs\nwith dbt_internal_unit_test_actual as (\n  select {cols}, 'actual' as \"actual_or_expected\"\n  from (\n    {sql}\n  ) _dbt_internal_unit_test_actual\n),\n-- Build expected result\ndbt_internal_unit_test_expected as (\n  select {cols}, 'expected' as \"actual_or_expected\"\n  from (\n    {expected_sql}\n  ) _dbt_internal_unit_test_expected\n)\n-- Union actual and expected results\nselect * from dbt_internal_unit_test_actual\nunion all\nselect * from dbt_internal_unit_test_expected",
        cols = cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
    );
    r.run_sql = Some(run_sql);
    let (actual, expected) = match (fetch(db, &proj(&sql)), fetch(db, &proj(&expected_sql))) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => {
            r.status = Status::Error;
            r.message = format!("An error occurred during execution of unit test '{}'. There may be an error in the unit test definition: check the data types.\n {e}", u.name);
            return finish(r);
        }
    };
    match render_diff(&cols, &expected, &actual) {
        None => {
            r.status = Status::Pass;
            r.failures = Some(0);
        }
        Some(d) => {
            r.status = Status::Fail;
            r.failures = Some(1);
            r.message = d;
        }
    }
    finish(r)
}

/// The `unit_tests` section of manifest.json.
pub fn manifest_section(m: &Manifest) -> Value {
    let mut out = Map::new();
    for (id, u) in &m.unit_tests {
        let Some(n) = m.nodes.get(id) else { continue };
        let mut config = u.config.clone();
        config.entry("tags").or_insert(json!([]));
        config.entry("meta").or_insert(json!({}));
        config.entry("enabled").or_insert(json!(true));
        let given: Vec<Value> = u.given.iter().map(|g| g.raw.clone()).collect();
        let expect = u.raw.get("expect").cloned().unwrap_or(Value::Null);
        // what `state:modified` compares: everything but the description
        // (dbt hashes its Python objects' text, which Tarmac does not
        // reproduce, so a unit test reads as modified against dbt's state)
        let checksum = crate::partial::sha256_hex(
            json!([u.model, given, expect, u.overrides])
                .to_string()
                .as_bytes(),
        );
        out.insert(
            id.clone(),
            json!({
                "model": u.model,
                "given": given,
                "expect": expect,
                "name": u.name,
                "resource_type": "unit_test",
                "package_name": n.package_name,
                "path": n.path,
                "original_file_path": u.file,
                "unique_id": id,
                "fqn": n.fqn,
                "description": u.description,
                "overrides": if u.overrides.is_empty() { Value::Null } else { Value::Object(u.overrides.clone()) },
                "depends_on": {"macros": [], "nodes": [u.model_id]},
                "config": config,
                "schema": n.schema,
                "database": n.database,
                "tags": u.config.tags(),
                "checksum": checksum,
                "versions": null,
                "version": null,
            }),
        );
    }
    Value::Object(out)
}

/// `model::name`, as dbt prints a unit test.
pub fn display_name(m: &Manifest, node: &Node) -> String {
    match m.unit_tests.get(&node.unique_id) {
        Some(u) => format!("{}::{}", u.model, u.name),
        None => node.name.clone(),
    }
}

/// For `build`: each model waits for its unit tests, and those run one
/// after another. dbt 1.10's `build` runs a model's unit tests in series
/// and, once one fails or errors, skips the rest of them with the model
/// (dbt-core issue 12084 describes the serial run; `dbt test` runs them in
/// parallel, and so does Tarmac's `test`). Chaining the tests in the DAG
/// gives both halves through the scheduler's usual skip-the-descendants
/// rule. dbt's order among them follows a Python set (it changes with the
/// process's hash seed); ours is by name, so which test is the one that ran
/// can differ while the statuses of the group agree.
pub fn build_edges(
    m: &Manifest,
    in_queue: &std::collections::HashSet<&String>,
) -> Vec<(String, String)> {
    let mut per_model: std::collections::BTreeMap<&String, Vec<&String>> = Default::default();
    for (id, u) in &m.unit_tests {
        if in_queue.contains(id) && in_queue.contains(&u.model_id) {
            per_model.entry(&u.model_id).or_default().push(id);
        }
    }
    let mut edges = Vec::new();
    for (model, mut tests) in per_model {
        tests.sort();
        for pair in tests.windows(2) {
            edges.push((pair[0].clone(), pair[1].clone()));
        }
        if let Some(last) = tests.last() {
            edges.push(((*last).clone(), model.clone()));
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit test run through the recording adapter, without DuckDB: what
    /// it asks of the database, and how it compares the answers.
    mod recorded {
        use dbt_jinja::database::{Call, Recording};

        use super::super::*;

        fn run(db: Recording) -> (NodeResult, Vec<Call>) {
            let l = crate::fixture("shop", Command::Test, |_| {});
            let m = &l.manifest;
            let node = &m.nodes["unit_test.shop.stg_orders.stg_orders_keeps_recent_orders"];
            let seed = m.nodes.values().find(|n| n.name == "raw_orders").unwrap();
            let db = Arc::new(db.with_relation(
                crate::relation::Relation::new(&seed.database, &seed.schema, &seed.alias),
                "table",
                &[
                    ("id", "INTEGER"),
                    ("user_id", "INTEGER"),
                    ("order_date", "DATE"),
                    ("status", "VARCHAR"),
                ],
            ));
            let shared: Arc<dyn Database> = db.clone();
            let r = run_unit_test(m, node, &shared, &RunOptions::quiet(Command::Test, 1));
            (r, db.calls())
        }

        /// The model's output columns, as DuckDB's `DESCRIBE` gives them.
        fn describing(db: Recording) -> Recording {
            db.answering(
                "DESCRIBE",
                &["column_name", "column_type"],
                vec![
                    vec!["order_id".into(), "INTEGER".into()],
                    vec!["customer_id".into(), "INTEGER".into()],
                    vec!["status".into(), "VARCHAR".into()],
                ],
            )
        }

        fn rows(rows: &[[Option<&str>; 3]]) -> Vec<Vec<minijinja::Value>> {
            rows.iter()
                .map(|r| r.iter().map(|v| minijinja::Value::from(*v)).collect())
                .collect()
        }

        #[test]
        fn equal_answers_pass_and_the_fixture_types_come_from_the_input() {
            let expected = [
                [Some("2"), Some("11"), Some("shipped")],
                [Some("3"), Some("12"), None],
            ];
            let db = describing(Recording::new()).answering(
                "_dbt_internal_unit_test",
                &["order_id", "customer_id", "status"],
                rows(&expected),
            );
            let (r, calls) = run(db);
            assert_eq!(r.status, Status::Pass, "{}", r.message);
            // the input's column types, the model's on the fixtures, then
            // the actual and the expected rows
            assert!(
                matches!(&calls[0], Call::Columns(c) if c.ends_with("\"raw_orders\"")),
                "{calls:?}"
            );
            let queries: Vec<&String> = calls
                .iter()
                .filter_map(|c| match c {
                    Call::Query(q) => Some(q),
                    _ => None,
                })
                .collect();
            assert_eq!(queries.len(), 3, "{calls:?}");
            assert!(queries[0].starts_with("DESCRIBE "), "{}", queries[0]);
            // the fixture is cast to the input's types, the var overridden
            assert!(queries[1].contains("as INTEGER)"), "{}", queries[1]);
            assert!(queries[1].contains("'2018-02-01'"), "{}", queries[1]);
            assert!(!queries[2].contains("2018-02-01"), "{}", queries[2]);
            assert_eq!(calls.len(), 4, "{calls:?}");
        }

        #[test]
        fn different_answers_fail_with_a_diff() {
            // the actual rows (the model's SQL reads `order_date`) lack order 3
            let db = describing(Recording::new())
                .answering(
                    "order_date >=",
                    &["order_id", "customer_id", "status"],
                    rows(&[[Some("2"), Some("11"), Some("shipped")]]),
                )
                .answering(
                    "_dbt_internal_unit_test",
                    &["order_id", "customer_id", "status"],
                    rows(&[
                        [Some("2"), Some("11"), Some("shipped")],
                        [Some("3"), Some("12"), None],
                    ]),
                );
            let (r, _) = run(db);
            assert_eq!(r.status, Status::Fail, "{}", r.message);
            assert!(r.message.contains("--- | 3        | 12"), "{}", r.message);
            // a database that refuses the model's SQL: an error, with its words
            let db = Recording::new().failing("DESCRIBE", "Binder Error: no column order_date");
            let (r, _) = run(db);
            assert_eq!(r.status, Status::Error);
            assert!(
                r.message.contains("Binder Error: no column order_date"),
                "{}",
                r.message
            );
        }
    }

    #[test]
    fn inputs_and_fixtures() {
        assert_eq!(parse_input("ref('a')"), Some(InputTarget::Ref("a".into())));
        assert_eq!(
            parse_input(" ref(\"p\", 'a') "),
            Some(InputTarget::Ref("a".into()))
        );
        assert_eq!(
            parse_input("source('s', 't')"),
            Some(InputTarget::Source("s".into(), "t".into()))
        );
        assert_eq!(parse_input("this"), Some(InputTarget::This));
        assert_eq!(parse_input("nope"), None);
        let rows = csv_rows("id,name\n1,a\n2,\n").unwrap();
        assert_eq!(rows[1]["name"], Value::Null);
        let sql = fixture_sql(
            &rows,
            &[
                ("id".into(), "INTEGER".into()),
                ("name".into(), "VARCHAR".into()),
            ],
            "x",
        )
        .unwrap();
        assert_eq!(sql, "select cast('1' as INTEGER) as \"id\", cast('a' as VARCHAR) as \"name\"\nunion all\nselect cast('2' as INTEGER) as \"id\", cast(null as VARCHAR) as \"name\"");
        assert!(fixture_sql(&rows, &[("id".into(), "INTEGER".into())], "x").is_err());
    }

    #[test]
    fn diffs_as_multisets() {
        let a: Table = vec![vec![Some("1".into())], vec![Some("2".into())]];
        let b: Table = vec![vec![Some("2".into())], vec![Some("1".into())]];
        assert!(render_diff(&["id".into()], &a, &b).is_none());
        let c: Table = vec![vec![Some("2".into())], vec![None]];
        let d = render_diff(&["id".into()], &a, &c).unwrap();
        assert!(d.contains("+++ | NULL") && d.contains("--- | 1"), "{d}");
    }
}
