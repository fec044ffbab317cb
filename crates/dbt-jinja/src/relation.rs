//! A database relation as Jinja sees it (`{{ this }}`, `ref()`, `source()`,
//! `adapter.get_relation`): renders as `"database"."schema"."identifier"`,
//! as dbt-duckdb renders relations.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Error, State};

use crate::phase::{TOKEN_END, TOKEN_HEAD, TOKEN_START, TOKEN_TAIL};

/// Quote an identifier for DuckDB.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

pub use dbt_project::quoting::Quoting;

/// A relation (table or view) in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub database: Option<String>,
    pub schema: Option<String>,
    pub identifier: String,
    /// `table`, `view`, `cte` or unknown.
    pub kind: Option<String>,
    pub quoting: Quoting,
    /// dbt-duckdb's external source: what the relation renders as (a quoted
    /// path or a reader call such as `read_csv(...)`) instead of its name.
    pub external: Option<String>,
    /// dbt's `limit` on a relation from `ref()`/`source()`: `Some(0)` under
    /// `--empty`, which renders it in Jinja as `(select * from <name> where
    /// false limit 0)`, as dbt-duckdb does (no subquery alias).
    pub limit: Option<u64>,
    /// The `event_time` column of the node or source this relation is, so
    /// a microbatch batch (or `--sample`) can read only its time window.
    pub event_time: Option<String>,
    /// A window `[start, end)` over `event_time` (timestamps as dbt prints
    /// them, `2024-01-02 00:00:00+00:00`): the relation renders in Jinja as
    /// `(select * from <name> where <col> >= 'start' and <col> < 'end')`.
    pub window: Option<(String, String)>,
}

impl Relation {
    pub fn new(database: &str, schema: &str, identifier: &str) -> Self {
        Relation {
            database: Some(database.to_string()),
            schema: Some(schema.to_string()),
            identifier: identifier.to_string(),
            kind: None,
            quoting: Quoting::default(),
            external: None,
            limit: None,
            event_time: None,
            window: None,
        }
    }

    /// The same relation rendered with another quote policy.
    pub fn with_quoting(mut self, quoting: Quoting) -> Self {
        self.quoting = quoting;
        self
    }

    /// An ephemeral model's CTE name, rendered unquoted and unqualified.
    pub fn cte(name: &str) -> Self {
        Relation {
            database: None,
            schema: None,
            identifier: format!("__dbt__cte__{name}"),
            kind: Some("cte".into()),
            quoting: Quoting::default(),
            external: None,
            limit: None,
            event_time: None,
            window: None,
        }
    }

    /// The fully qualified, quoted name.
    pub fn render(&self) -> String {
        if let Some(e) = &self.external {
            return e.clone();
        }
        if self.kind.as_deref() == Some("cte") {
            return self.identifier.clone();
        }
        let part = |text: &str, quoted: bool| {
            if quoted {
                quote(text)
            } else {
                text.to_string()
            }
        };
        let mut parts = Vec::new();
        if let Some(d) = &self.database {
            parts.push(part(d, self.quoting.database));
        }
        if let Some(s) = &self.schema {
            parts.push(part(s, self.quoting.schema));
        }
        parts.push(part(&self.identifier, self.quoting.identifier));
        parts.join(".")
    }

    pub fn to_value(&self) -> Value {
        Value::from_object(self.clone())
    }

    /// This relation standing for reference `n` of a render that defers
    /// its references ([`crate::jinja::Rendered`]): it prints as a token the
    /// compile replaces with the reference's final name, and it notes a
    /// divergence when a template looks inside it (its parts are the
    /// parse's placeholders, not the final names).
    pub fn deferred(mut self, n: usize) -> Self {
        self.external = Some(format!(
            "{TOKEN_START}{TOKEN_HEAD}{n}{TOKEN_TAIL}{TOKEN_END}"
        ));
        self
    }

    /// Whether this is a [`Relation::deferred`] placeholder.
    pub fn is_deferred(&self) -> bool {
        self.external
            .as_deref()
            .is_some_and(|e| e.starts_with(TOKEN_START))
    }

    /// A template read something of a deferred relation other than its
    /// printed name: the render's text holds parse-time values.
    fn inspected(&self) {
        if self.is_deferred() {
            crate::phase::note_divergence();
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl Object for Relation {
    /// A mapping, as dbt's relations are (`relation is mapping` holds, and
    /// packages check `relation.get('metadata', {}).get('type')`).
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        self.inspected();
        minijinja::value::Enumerator::Str(&["path", "type", "metadata"])
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.inspected();
        let opt = |o: &Option<String>| o.clone().map(Value::from).unwrap_or(Value::from(()));
        match key.as_str()? {
            "database" => Some(opt(&self.database)),
            "schema" => Some(opt(&self.schema)),
            "identifier" | "name" | "table" => Some(Value::from(self.identifier.clone())),
            "type" => Some(opt(&self.kind)),
            "is_table" => Some(Value::from(self.kind.as_deref() == Some("table"))),
            "is_view" => Some(Value::from(self.kind.as_deref() == Some("view"))),
            "is_cte" => Some(Value::from(self.kind.as_deref() == Some("cte"))),
            "metadata" => Some(minijinja::context! { type => "DuckDBRelation" }),
            "path" => Some(minijinja::context! {
                database => opt(&self.database), schema => opt(&self.schema),
                identifier => Value::from(self.identifier.clone()),
            }),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        self.inspected();
        match method {
            "render" => Ok(Value::from(Relation::render(self))),
            // dict-style access, as on dbt's relation dataclass
            "get" => {
                let key = args.first().cloned().unwrap_or_default();
                Ok(self
                    .get_value(&key)
                    .or_else(|| args.get(1).cloned())
                    .unwrap_or(Value::from(())))
            }
            "include" => {
                // include(database=False, schema=False, identifier=True)
                let mut r = (**self).clone();
                let args = crate::pyargs::Args::new(args);
                let flag = |k: &str| args.named(k).map(|v| v.is_true());
                if flag("database") == Some(false) {
                    r.database = None;
                }
                if flag("schema") == Some(false) {
                    r.schema = None;
                }
                Ok(r.to_value())
            }
            "quote" => {
                // quote(database=None, schema=None, identifier=None)
                let mut r = (**self).clone();
                if let Some(kw) = args.last().filter(|v| v.is_kwargs()) {
                    let mut m = serde_json::Map::new();
                    for k in ["database", "schema", "identifier"] {
                        if let Ok(v) = kw.get_attr(k) {
                            if !v.is_undefined() && !v.is_none() {
                                m.insert(k.into(), serde_json::Value::Bool(v.is_true()));
                            }
                        }
                    }
                    r.quoting = r.quoting.merged(Some(&serde_json::Value::Object(m)));
                }
                Ok(r.to_value())
            }
            "incorporate" => Ok(Value::from_object((**self).clone())),
            _ => Err(Error::from(minijinja::ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(col), Some((start, end)), None) = (&self.event_time, &self.window, self.limit)
        {
            return write!(
                f,
                "(select * from {} where {col} >= '{start}' and {col} < '{end}')",
                Relation::render(self)
            );
        }
        match self.limit {
            None => f.write_str(&Relation::render(self)),
            Some(0) => write!(
                f,
                "(select * from {} where false limit 0)",
                Relation::render(self)
            ),
            Some(n) => write!(f, "(select * from {} limit {n})", Relation::render(self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_dbt_duckdb() {
        let r = Relation::new("dev", "main", "orders");
        assert_eq!(r.render(), "\"dev\".\"main\".\"orders\"");
        assert_eq!(Relation::cte("x").render(), "__dbt__cte__x");
        let env = minijinja::Environment::new();
        let out = env
            .render_str(
                "{{ r }} {{ r.schema }} {{ r.include(database=false) }}",
                minijinja::context! { r => r.to_value() },
            )
            .unwrap();
        assert_eq!(out, "\"dev\".\"main\".\"orders\" main \"main\".\"orders\"");
        let q = Quoting::default().merged(Some(
            &serde_json::json!({"identifier": false, "schema": "false", "column": false}),
        ));
        assert_eq!(r.with_quoting(q).render(), "\"dev\".main.orders");
    }
}
