//! The database as the Jinja layer sees it: a small trait, so that this
//! crate never links DuckDB. `run_query`, `statement`, `load_relation` and
//! the `adapter` methods a template calls reach the database only through
//! [`Database`]. The engine implements it on its DuckDB connection
//! (`engine::db::Db`); [`Recording`] implements it in memory and writes down
//! every call, so macros and the adapter methods are tested without a
//! database, as dbt Labs' Rust engine tests its materializations.

use std::sync::Mutex;

use minijinja::Value;

use crate::relation::Relation;
pub use crate::render_error::DatabaseFailure;

/// Rows per `INSERT` statement of [`Database::append_rows`]'s default.
pub const INSERT_BATCH: usize = 1000;

/// Rows from a query, as Jinja values.
#[derive(Debug, Default, Clone)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// What the Jinja layer asks of a database. Every method may fail with the
/// database's own words ([`DatabaseFailure`]), which a render reports as the
/// node's runtime error, as dbt does.
pub trait Database: Send + Sync {
    /// Run statements whose result nobody reads (DDL, hooks).
    fn execute(&self, sql: &str) -> Result<(), DatabaseFailure>;
    /// Run a query and return its rows.
    fn query(&self, sql: &str) -> Result<QueryResult, DatabaseFailure>;
    /// `table`, `view`, or None when the relation does not exist. With no
    /// database, any database's relation of that schema and name answers.
    fn relation_kind(
        &self,
        database: Option<&str>,
        schema: &str,
        identifier: &str,
    ) -> Result<Option<String>, DatabaseFailure>;
    /// Column names and types in order; none for a relation that does not
    /// exist (dbt-duckdb's `get_columns_in_relation` probes that way).
    fn columns(&self, relation: &Relation) -> Result<Vec<(String, String)>, DatabaseFailure>;
    /// The relations of a schema in the default database, with their kind.
    fn relations_in_schema(&self, schema: &str) -> Result<Vec<Relation>, DatabaseFailure>;
    /// Whether `database.schema` exists.
    fn has_schema(&self, database: &str, schema: &str) -> Result<bool, DatabaseFailure>;

    /// Run statements in one transaction: all of them or none. The default
    /// runs them on [`Database::execute`] between `BEGIN TRANSACTION` and
    /// `COMMIT`, and rolls back when one fails.
    fn transaction(&self, statements: &[String]) -> Result<(), DatabaseFailure> {
        self.execute("BEGIN TRANSACTION")?;
        for s in statements.iter().map(String::as_str).chain(["COMMIT"]) {
            if let Err(e) = self.execute(s) {
                let _ = self.execute("ROLLBACK");
                return Err(e);
            }
        }
        Ok(())
    }

    /// Append rows of text (None: NULL) to `table`, whose columns take
    /// text: how a seed's values reach its staging table (dbt's
    /// `load_csv_rows`). The default sends `INSERT ... VALUES` statements
    /// of up to [`INSERT_BATCH`] rows on [`Database::execute`]; a database
    /// with a faster path (DuckDB's appender) overrides it.
    fn append_rows(
        &self,
        table: &Relation,
        rows: &[Vec<Option<String>>],
    ) -> Result<(), DatabaseFailure> {
        for batch in rows.chunks(INSERT_BATCH) {
            let values: Vec<String> = batch
                .iter()
                .map(|row| {
                    let cells: Vec<String> = row
                        .iter()
                        .map(|v| match v {
                            Some(t) => format!("'{}'", t.replace('\'', "''")),
                            None => "NULL".into(),
                        })
                        .collect();
                    format!("({})", cells.join(", "))
                })
                .collect();
            self.execute(&format!(
                "INSERT INTO {} VALUES {}",
                table.render(),
                values.join(", ")
            ))?;
        }
        Ok(())
    }

    /// [`Database::execute`] of the engine's own DDL, whose every change
    /// the caller then reports with [`Database::note`]. A database that
    /// caches its catalog (the engine's DuckDB connection) keeps its cache
    /// for it, where user SQL, which may change anything, empties it.
    fn execute_noted(&self, sql: &str) -> Result<(), DatabaseFailure> {
        self.execute(sql)
    }

    /// [`Database::transaction`] of the engine's own DDL (see
    /// [`Database::execute_noted`]).
    fn transaction_noted(&self, statements: &[String]) -> Result<(), DatabaseFailure> {
        self.transaction(statements)
    }

    /// `relation` now is a `kind` (`table`/`view`), or is gone (`None`):
    /// what a catalog cache must learn after [`Database::execute_noted`].
    fn note(&self, _relation: &Relation, _kind: Option<&'static str>) {}

    /// Forget whatever is cached of the catalog (after user SQL, such as a
    /// `sql_header`, that may have changed anything).
    fn invalidate(&self) {}

    /// A connection of its own to the same database, for work that runs at
    /// the same time as this connection's (a microbatch model's batches,
    /// each with a temporary staging table private to its connection).
    /// None when the database offers no second connection: the caller then
    /// shares this one, one statement at a time.
    fn connection(&self) -> Option<std::sync::Arc<dyn Database>> {
        None
    }

    /// The statement that drops `relation` as what it is now (`DROP VIEW` of
    /// a view, `DROP TABLE` of a table), or a no-op when it is not there:
    /// DuckDB refuses `DROP TABLE` of a view.
    fn drop_sql(&self, relation: &Relation) -> Result<String, DatabaseFailure> {
        let kind = self.relation_kind(
            relation.database.as_deref(),
            relation.schema.as_deref().unwrap_or("main"),
            &relation.identifier,
        )?;
        Ok(match kind.as_deref() {
            Some("view") => format!("DROP VIEW IF EXISTS {} CASCADE", relation.render()),
            Some(_) => format!("DROP TABLE IF EXISTS {} CASCADE", relation.render()),
            None => "SELECT 1".into(),
        })
    }
}

/// One call a [`Recording`] received, in the words of the trait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Execute(String),
    Query(String),
    /// `database.schema.identifier` as asked (`?` for no database).
    RelationKind(String),
    /// The relation as rendered.
    Columns(String),
    RelationsInSchema(String),
    /// `database.schema` as asked.
    HasSchema(String),
    /// The statements of one transaction.
    Transaction(Vec<String>),
    /// Rows appended to a table (as rendered).
    AppendRows(String, Vec<Vec<Option<String>>>),
}

/// A [`Database`] in memory that records every call and answers from what
/// a test told it: the relations that exist (with their kind and columns),
/// the rows a query returns, and the statements that fail. It interprets no
/// SQL: a test states what the database holds and reads back what the
/// template asked of it.
#[derive(Debug, Default)]
pub struct Recording {
    calls: Mutex<Vec<Call>>,
    relations: Mutex<Vec<Held>>,
    answers: Mutex<Vec<(String, QueryResult)>>,
    failures: Mutex<Vec<(String, String)>>,
}

impl Recording {
    pub fn new() -> Self {
        Self::default()
    }

    /// The database holds `relation` as a `kind` (`table`/`view`) with these
    /// columns (name, type).
    pub fn with_relation(self, relation: Relation, kind: &str, columns: &[(&str, &str)]) -> Self {
        let cols = columns
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        lock(&self.relations).push(Held {
            relation,
            kind: kind.to_string(),
            columns: cols,
        });
        self
    }

    /// A query or statement whose SQL contains `needle` returns these rows
    /// (the first matching answer wins; other queries return no rows).
    pub fn answering(self, needle: &str, columns: &[&str], rows: Vec<Vec<Value>>) -> Self {
        let result = QueryResult {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        };
        lock(&self.answers).push((needle.to_string(), result));
        self
    }

    /// SQL containing `needle` fails with the database's `message`.
    pub fn failing(self, needle: &str, message: &str) -> Self {
        lock(&self.failures).push((needle.to_string(), message.to_string()));
        self
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    /// The SQL of every `execute` and `query` so far, in order, a
    /// transaction's statements between `BEGIN TRANSACTION` and `COMMIT`.
    pub fn statements(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.calls() {
            match c {
                Call::Execute(s) | Call::Query(s) => out.push(s),
                Call::Transaction(stmts) => {
                    out.push("BEGIN TRANSACTION".into());
                    out.extend(stmts);
                    out.push("COMMIT".into());
                }
                _ => {}
            }
        }
        out
    }

    fn record(&self, call: Call) {
        lock(&self.calls).push(call);
    }

    fn check(&self, sql: &str) -> Result<(), DatabaseFailure> {
        match lock(&self.failures)
            .iter()
            .find(|(n, _)| sql.contains(n.as_str()))
        {
            Some((_, m)) => Err(DatabaseFailure(m.clone())),
            None => Ok(()),
        }
    }

    fn find<T>(
        &self,
        database: Option<&str>,
        schema: &str,
        identifier: &str,
        f: impl Fn(&Held) -> T,
    ) -> Option<T> {
        let same = |a: Option<&str>, b: &str| a.is_some_and(|a| a.eq_ignore_ascii_case(b));
        lock(&self.relations)
            .iter()
            .find(|Held { relation: r, .. }| {
                r.identifier.eq_ignore_ascii_case(identifier)
                    && same(r.schema.as_deref(), schema)
                    && database.is_none_or(|d| same(r.database.as_deref(), d))
            })
            .map(f)
    }
}

/// A relation a [`Recording`] holds: what it is and its columns.
#[derive(Debug)]
struct Held {
    relation: Relation,
    kind: String,
    columns: Vec<(String, String)>,
}

/// A poisoned lock only means another test thread panicked; the data is
/// still what was recorded.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Database for Recording {
    fn execute(&self, sql: &str) -> Result<(), DatabaseFailure> {
        self.record(Call::Execute(sql.to_string()));
        self.check(sql)
    }

    fn query(&self, sql: &str) -> Result<QueryResult, DatabaseFailure> {
        self.record(Call::Query(sql.to_string()));
        self.check(sql)?;
        Ok(lock(&self.answers)
            .iter()
            .find(|(n, _)| sql.contains(n.as_str()))
            .map(|(_, r)| r.clone())
            .unwrap_or_default())
    }

    fn relation_kind(
        &self,
        database: Option<&str>,
        schema: &str,
        identifier: &str,
    ) -> Result<Option<String>, DatabaseFailure> {
        self.record(Call::RelationKind(format!(
            "{}.{schema}.{identifier}",
            database.unwrap_or("?")
        )));
        Ok(self.find(database, schema, identifier, |h| h.kind.clone()))
    }

    fn columns(&self, relation: &Relation) -> Result<Vec<(String, String)>, DatabaseFailure> {
        self.record(Call::Columns(relation.render()));
        Ok(self
            .find(
                relation.database.as_deref(),
                relation.schema.as_deref().unwrap_or("main"),
                &relation.identifier,
                |h| h.columns.clone(),
            )
            .unwrap_or_default())
    }

    fn relations_in_schema(&self, schema: &str) -> Result<Vec<Relation>, DatabaseFailure> {
        self.record(Call::RelationsInSchema(schema.to_string()));
        Ok(lock(&self.relations)
            .iter()
            .filter(|h| {
                h.relation
                    .schema
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(schema))
            })
            .map(|h| Relation {
                kind: Some(h.kind.clone()),
                ..h.relation.clone()
            })
            .collect())
    }

    /// A schema exists when a relation the test gave is in it.
    fn has_schema(&self, database: &str, schema: &str) -> Result<bool, DatabaseFailure> {
        self.record(Call::HasSchema(format!("{database}.{schema}")));
        let same = |a: Option<&str>, b: &str| a.is_some_and(|a| a.eq_ignore_ascii_case(b));
        Ok(lock(&self.relations).iter().any(|h| {
            same(h.relation.database.as_deref(), database)
                && same(h.relation.schema.as_deref(), schema)
        }))
    }

    /// One call with every row; fails when the table's name is among the
    /// failures.
    fn append_rows(
        &self,
        table: &Relation,
        rows: &[Vec<Option<String>>],
    ) -> Result<(), DatabaseFailure> {
        let name = table.render();
        self.record(Call::AppendRows(name.clone(), rows.to_vec()));
        self.check(&name)
    }

    /// One call for the whole transaction; it fails, as a whole, when one
    /// of its statements would.
    fn transaction(&self, statements: &[String]) -> Result<(), DatabaseFailure> {
        self.record(Call::Transaction(statements.to_vec()));
        statements.iter().try_for_each(|s| self.check(s))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::jinja::{environment, install_context, render_model, NodeCtx};

    /// Renders `code` as the model `d.s.orders` at run time, on `db`.
    fn render_on(db: Arc<Recording>, code: &str) -> Result<String, minijinja::Error> {
        let (_d, info) = crate::testing::run_info();
        let (mut env, _) = environment(&info, &[]).unwrap();
        install_context(&mut env);
        let ctx = Arc::new(NodeCtx {
            db: Some(db as Arc<dyn Database>),
            ..NodeCtx::new(
                "model.p.orders".into(),
                "orders".into(),
                Relation::new("d", "s", "orders"),
                Config::new(),
                Arc::new(crate::testing::NoRefs),
                Value::from(()),
            )
        });
        render_model(&env, "models/orders.sql", code, ctx)
    }

    fn orders() -> Recording {
        Recording::new().with_relation(
            Relation::new("d", "s", "orders"),
            "table",
            &[("id", "INTEGER"), ("name", "VARCHAR")],
        )
    }

    #[test]
    fn adapter_methods_reach_the_database_through_the_trait() {
        let db = Arc::new(orders().answering("count(*)", &["n"], vec![vec![Value::from(3)]]));
        let out = render_on(
            db.clone(),
            "{% for c in adapter.get_columns_in_relation(this) %}{{ c.name }} {{ c.dtype }},{% endfor %}\
             |{{ load_relation(this).type }}\
             |{{ run_query('select count(*) from t').rows[0][0] }}\
             |{% do adapter.drop_relation(this) %}",
        )
        .unwrap();
        assert_eq!(out, "id INTEGER,name VARCHAR,|table|3|");
        let calls = db.calls();
        assert!(
            calls.contains(&Call::Columns("\"d\".\"s\".\"orders\"".into())),
            "{calls:?}"
        );
        // drop_relation drops the relation as what it is: a table here
        assert_eq!(
            db.statements(),
            [
                "select count(*) from t",
                "DROP TABLE IF EXISTS \"d\".\"s\".\"orders\" CASCADE"
            ]
        );
    }

    #[test]
    fn a_relation_the_database_lacks_is_none_and_drops_as_a_no_op() {
        let db = Arc::new(Recording::new());
        let out = render_on(
            db.clone(),
            "{{ load_relation(this) is none }}|{{ adapter.get_columns_in_relation(this) | length }}\
             {% do adapter.drop_relation(this) %}",
        )
        .unwrap();
        assert_eq!(out, "True|0");
        assert_eq!(db.statements(), ["SELECT 1"]);
    }

    #[test]
    fn a_refused_statement_fails_the_render_in_the_databases_words() {
        let db = Arc::new(orders().failing(
            "from nowhere",
            "Catalog Error: Table nowhere does not exist",
        ));
        let e = render_on(db, "{{ run_query('select * from nowhere') }}").unwrap_err();
        assert_eq!(
            crate::jinja::database_failure(&e).as_deref(),
            Some("Catalog Error: Table nowhere does not exist")
        );
    }

    #[test]
    fn the_built_in_date_spine_asks_the_database_for_its_length() {
        // dbt.date_spine counts its periods with a query at run time
        // (get_intervals_between); the count shapes the SQL it renders
        let db = Arc::new(Recording::new().answering(
            "date_diff('day'",
            &["n"],
            vec![vec![Value::from(5)]],
        ));
        let out = render_on(
            db.clone(),
            "{{ dbt.date_spine('day', \"cast('2024-01-01' as date)\", \"cast('2024-01-06' as date)\") }}",
        )
        .unwrap();
        let asked = db.statements();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert!(asked[0].contains("date_diff('day'"), "{asked:?}");
        assert!(out.contains("<= 5"), "{out}");
        // without an answer the count is 1, as in dbt when nothing is fetched
        let none = render_on(
            Arc::new(Recording::new()),
            "{{ dbt.date_spine('day', \"cast('2024-01-01' as date)\", \"cast('2024-01-06' as date)\") }}",
        )
        .unwrap();
        assert!(none.contains("<= 1"), "{none}");
    }
}
