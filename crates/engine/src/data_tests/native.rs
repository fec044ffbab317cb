//! The four built-in generic tests (`unique`, `not_null`,
//! `accepted_values`, `relationships`) compiled in Rust, when nothing
//! replaces them.
//!
//! Why: a project's tests are mostly these four, often thousands of them,
//! and rendering each through Jinja builds a whole node context (the node
//! as a Jinja value, every context function), parses a call template and
//! dispatches twice, for SQL that is a fixed text around four names. On a
//! generated 10,000-model project that rendering was the largest single
//! share of a compile's CPU.
//!
//! The Jinja macros in `builtin.sql` stay the definition: they are an
//! interface a project or package replaces by name, and they are what runs
//! whenever anything here is unsure. [`compile`] answers `None`, and the
//! caller renders the Jinja, when a project or package defines any of the
//! macros involved (or reorders the `dbt` dispatch namespace), or when an
//! argument is not in the plain form written below (Jinja in a string, a
//! versioned `ref`, a float in `values`, an unknown keyword, a reference
//! that does not resolve, whose error the Jinja path words). The unit
//! tests hold the text equal to what the macros render.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::jinja::{self, Resolver};
use crate::manifest::{Manifest, Node};

/// The built-in tests, by their YAML names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Unique,
    NotNull,
    AcceptedValues,
    Relationships,
}

impl Builtin {
    fn of(name: &str) -> Option<Builtin> {
        Some(match name {
            "unique" => Builtin::Unique,
            "not_null" => Builtin::NotNull,
            "accepted_values" => Builtin::AcceptedValues,
            "relationships" => Builtin::Relationships,
            _ => return None,
        })
    }

    /// The macros whose replacement by a project changes this test's SQL:
    /// the entry point, its implementations under each dispatch prefix,
    /// and the helpers it calls.
    fn macros(self) -> &'static [&'static str] {
        match self {
            Builtin::Unique => &[
                "test_unique",
                "default__test_unique",
                "duckdb__test_unique",
                "get_where_subquery",
                "default__get_where_subquery",
                "duckdb__get_where_subquery",
            ],
            Builtin::NotNull => &[
                "test_not_null",
                "default__test_not_null",
                "duckdb__test_not_null",
                "get_where_subquery",
                "default__get_where_subquery",
                "duckdb__get_where_subquery",
                "should_store_failures",
            ],
            Builtin::AcceptedValues => &[
                "test_accepted_values",
                "default__test_accepted_values",
                "duckdb__test_accepted_values",
                "get_where_subquery",
                "default__get_where_subquery",
                "duckdb__get_where_subquery",
            ],
            Builtin::Relationships => &[
                "test_relationships",
                "default__test_relationships",
                "duckdb__test_relationships",
                "get_where_subquery",
                "default__get_where_subquery",
                "duckdb__get_where_subquery",
            ],
        }
    }

    /// The keyword arguments the macro takes, and which are required.
    fn params(self) -> &'static [(&'static str, bool)] {
        match self {
            Builtin::Unique | Builtin::NotNull => &[("model", true), ("column_name", true)],
            Builtin::AcceptedValues => &[
                ("model", true),
                ("column_name", true),
                ("values", true),
                ("quote", false),
            ],
            Builtin::Relationships => &[
                ("model", true),
                ("column_name", true),
                ("to", true),
                ("field", true),
            ],
        }
    }
}

/// The arguments of a built-in test, resolved to the text the macros would
/// print for them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Args {
    /// The tested relation, filtered by the `where` config if one is set.
    model: String,
    column: String,
    /// `accepted_values`: each value as it prints inside the list.
    values: Vec<String>,
    quote: bool,
    /// `relationships`: the parent relation and its column.
    to: String,
    field: String,
    /// `not_null`: whether failing rows are kept whole.
    store_failures: bool,
}

/// A generic test's SQL without rendering Jinja, and the ephemeral models
/// it reads (their CTEs are the caller's to inject, as for the Jinja path).
/// `None`: render the macros instead (see the module's doc).
pub(super) fn compile(
    m: &Manifest,
    node: &Node,
    name: &str,
    namespace: Option<&str>,
    kwargs: &Map<String, Value>,
    resolver: &Arc<dyn Resolver>,
) -> Option<(String, Vec<String>)> {
    let test = Builtin::of(name).filter(|_| namespace.is_none())?;
    let params = test.params();
    if kwargs.keys().any(|k| !params.iter().any(|(p, _)| p == k))
        || params
            .iter()
            .any(|(p, required)| *required && !kwargs.contains_key(*p))
    {
        return None;
    }
    if crate::macros::replaces_builtins(&m.env, test.macros()) {
        return None;
    }
    let caller = crate::macros::package_of(&node.unique_id);
    let mut ephemerals = Vec::new();
    let mut args = Args {
        model: String::new(),
        column: String::new(),
        values: Vec::new(),
        quote: true,
        to: String::new(),
        field: String::new(),
        store_failures: false,
    };
    // in the order the Jinja call evaluates them, so that ephemeral models'
    // CTEs come out in the same order
    for (k, v) in kwargs {
        match k.as_str() {
            "model" => {
                let inner = v
                    .as_str()?
                    .trim()
                    .strip_prefix("{{")?
                    .strip_suffix("}}")?
                    .trim()
                    .strip_prefix("get_where_subquery(")?
                    .strip_suffix(')')?;
                let rel = reference(inner, resolver, caller, &node.unique_id, &mut ephemerals)?;
                args.model = where_subquery(node, rel)?;
            }
            "column_name" => args.column = plain(v)?.to_string(),
            "values" => {
                args.values = v
                    .as_array()?
                    .iter()
                    .map(|x| match x {
                        Value::String(s) if !has_jinja(s) => Some(s.clone()),
                        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
                        _ => None,
                    })
                    .collect::<Option<_>>()?;
            }
            "quote" => args.quote = v.as_bool()?,
            "to" => {
                let s = v.as_str()?.trim();
                let call = match s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
                    Some(inner) => inner.trim(),
                    None => s,
                };
                args.to = reference(call, resolver, caller, &node.unique_id, &mut ephemerals)?;
            }
            "field" => {
                let s = plain(v)?;
                if super::looks_like_func(s) {
                    return None;
                }
                args.field = s.to_string();
            }
            _ => return None,
        }
    }
    if test == Builtin::NotNull {
        args.store_failures = match node.config.get("store_failures") {
            None | Some(Value::Null) => m.info.store_failures,
            Some(Value::Bool(b)) => *b,
            Some(_) => return None,
        };
    }
    Some((sql(test, &args), ephemerals))
}

fn has_jinja(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// A string argument the macros print as it is.
fn plain(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !has_jinja(s))
}

/// `ref('name')`, `ref('package', 'name')` or `source('source', 'table')`,
/// resolved as the Jinja functions resolve them from a node of `caller`.
fn reference(
    call: &str,
    resolver: &Arc<dyn Resolver>,
    caller: &str,
    unique_id: &str,
    ephemerals: &mut Vec<String>,
) -> Option<String> {
    let call = call.trim();
    let (function, rest) = call.split_once('(')?;
    let inner = rest.strip_suffix(')')?;
    let names = quoted_list(inner)?;
    match (function.trim(), names.as_slice()) {
        ("ref", [name]) | ("ref", [_, name]) => {
            let package = (names.len() == 2).then(|| names[0].as_str());
            let (rel, eph) = resolver.resolve_ref_from(caller, package, name).ok()?;
            let ephemeral = eph.is_some();
            if let Some(id) = eph {
                if !ephemerals.contains(&id) {
                    ephemerals.push(id);
                }
            }
            Some(jinja::referenced_sql(rel, ephemeral, unique_id))
        }
        ("source", [source, table]) => {
            let rel = resolver.resolve_source_from(caller, source, table).ok()?;
            Some(jinja::referenced_sql(rel, false, unique_id))
        }
        _ => None,
    }
}

/// `'a', "b"`: string literals without escapes, separated by commas.
fn quoted_list(s: &str) -> Option<Vec<String>> {
    s.split(',')
        .map(|part| {
            let p = part.trim();
            let q = p.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            let body = p.strip_prefix(q)?.strip_suffix(q)?;
            (!body.contains(['\'', '"', '\\'])).then(|| body.to_string())
        })
        .collect()
}

/// What `get_where_subquery` gives: the relation, or with a `where` config
/// the relation filtered in a subquery named `dbt_subquery`.
fn where_subquery(node: &Node, relation: String) -> Option<String> {
    match node.config.get("where") {
        None | Some(Value::Null) => Some(relation),
        Some(Value::String(w)) if w.is_empty() => Some(relation),
        Some(Value::String(w)) => {
            Some(format!("(select * from {relation} where {w}) dbt_subquery"))
        }
        Some(_) => None,
    }
}

/// The SQL the macros in `builtin.sql` render, with their whitespace: the
/// entry point's frame around the implementation's text.
fn sql(test: Builtin, a: &Args) -> String {
    let (m, c) = (&a.model, &a.column);
    let body = match test {
        Builtin::Unique => format!(
            "\n\nselect\n    {c} as unique_field,\n    count(*) as n_records\n\nfrom {m}\nwhere {c} is not null\ngroup by {c}\nhaving count(*) > 1\n\n"
        ),
        Builtin::NotNull => {
            let selected = if a.store_failures { "*" } else { c.as_str() };
            format!("\n\n\n\nselect {selected}\nfrom {m}\nwhere {c} is null\n\n")
        }
        Builtin::AcceptedValues => {
            let mark = if a.quote { "'" } else { "" };
            let list: Vec<String> = a
                .values
                .iter()
                .map(|v| format!("{mark}{v}{mark}"))
                .collect();
            format!(
                "\n\nwith all_values as (\n\n    select\n        {c} as value_field,\n        count(*) as n_records\n\n    from {m}\n    group by {c}\n\n)\n\nselect *\nfrom all_values\nwhere value_field not in (\n    {}\n)\n\n",
                list.join(",")
            )
        }
        Builtin::Relationships => format!(
            "\n\nwith child as (\n    select {c} as from_field\n    from {m}\n    where {c} is not null\n),\n\nparent as (\n    select {f} as to_field\n    from {t}\n)\n\nselect\n    from_field\n\nfrom child\nleft join parent\n    on child.from_field = parent.to_field\n\nwhere parent.to_field is null\n\n",
            f = a.field,
            t = a.to
        ),
    };
    format!("\n    \n    {body}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> Args {
        Args {
            model: "m".into(),
            column: "id".into(),
            values: vec![],
            quote: true,
            to: "p".into(),
            field: "pk".into(),
            store_failures: false,
        }
    }

    /// The native text is what the macros render, for every test and the
    /// arguments that change it (the macros are rendered here through the
    /// same environment as a run's, see `super::super::tests`).
    #[test]
    fn native_sql_is_the_macros_sql() {
        let render = |src: &str, config: Value, flag: bool| {
            super::super::tests::render_builtin(src, "", config, flag)
        };
        let a = args();
        assert_eq!(
            sql(Builtin::Unique, &a),
            render("{{ test_unique('m', 'id') }}", serde_json::json!({}), false)
        );
        for (stored, flag, config) in [
            (false, false, serde_json::json!({})),
            (true, true, serde_json::json!({})),
            (true, false, serde_json::json!({"store_failures": true})),
        ] {
            let a = Args {
                store_failures: stored,
                ..args()
            };
            assert_eq!(
                sql(Builtin::NotNull, &a),
                render("{{ test_not_null('m', 'id') }}", config, flag)
            );
        }
        for (values, quote, call) in [
            (vec!["a", "b"], true, "['a', 'b']"),
            (vec!["1", "2"], false, "[1, 2], quote=false"),
            (vec!["only"], true, "['only']"),
            (vec![], true, "[]"),
        ] {
            let a = Args {
                values: values.into_iter().map(String::from).collect(),
                quote,
                ..args()
            };
            assert_eq!(
                sql(Builtin::AcceptedValues, &a),
                render(
                    &format!("{{{{ test_accepted_values('m', 'id', {call}) }}}}"),
                    serde_json::json!({}),
                    false
                )
            );
        }
        assert_eq!(
            sql(Builtin::Relationships, &a),
            render(
                "{{ test_relationships('m', 'id', to='p', field='pk') }}",
                serde_json::json!({}),
                false
            )
        );
    }

    #[test]
    fn only_plain_string_literals_are_references() {
        assert_eq!(
            quoted_list("'a', \"b\""),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(quoted_list("'a', v=2"), None);
        assert_eq!(quoted_list("'it''s'"), None);
        assert_eq!(quoted_list("name"), None);
    }
}
