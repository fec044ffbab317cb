//! A database relation as Jinja sees it (`{{ this }}`, `ref()`, `source()`,
//! `adapter.get_relation`): renders as `"database"."schema"."identifier"`,
//! as dbt-duckdb renders relations.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Error, State};

/// Quote an identifier for DuckDB.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A relation (table or view) in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub database: Option<String>,
    pub schema: Option<String>,
    pub identifier: String,
    /// `table`, `view`, `cte` or unknown.
    pub kind: Option<String>,
}

impl Relation {
    pub fn new(database: &str, schema: &str, identifier: &str) -> Self {
        Relation {
            database: Some(database.to_string()),
            schema: Some(schema.to_string()),
            identifier: identifier.to_string(),
            kind: None,
        }
    }

    /// An ephemeral model's CTE name, rendered unquoted and unqualified.
    pub fn cte(name: &str) -> Self {
        Relation {
            database: None,
            schema: None,
            identifier: format!("__dbt__cte__{name}"),
            kind: Some("cte".into()),
        }
    }

    /// The fully qualified, quoted name.
    pub fn render(&self) -> String {
        if self.kind.as_deref() == Some("cte") {
            return self.identifier.clone();
        }
        let mut parts = Vec::new();
        if let Some(d) = &self.database {
            parts.push(quote(d));
        }
        if let Some(s) = &self.schema {
            parts.push(quote(s));
        }
        parts.push(quote(&self.identifier));
        parts.join(".")
    }

    pub fn to_value(&self) -> Value {
        Value::from_object(self.clone())
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl Object for Relation {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let opt = |o: &Option<String>| o.clone().map(Value::from).unwrap_or(Value::from(()));
        match key.as_str()? {
            "database" => Some(opt(&self.database)),
            "schema" => Some(opt(&self.schema)),
            "identifier" | "name" | "table" => Some(Value::from(self.identifier.clone())),
            "type" => Some(opt(&self.kind)),
            "is_table" => Some(Value::from(self.kind.as_deref() == Some("table"))),
            "is_view" => Some(Value::from(self.kind.as_deref() == Some("view"))),
            "is_cte" => Some(Value::from(self.kind.as_deref() == Some("cte"))),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "render" => Ok(Value::from(Relation::render(self))),
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
            "incorporate" | "quote" => Ok(Value::from_object((**self).clone())),
            _ => Err(Error::from(minijinja::ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Relation::render(self))
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
    }
}
