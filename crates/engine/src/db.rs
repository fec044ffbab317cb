//! The engine's only door to DuckDB: a connection per worker thread, with
//! the introspection materializations and `adapter` need.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use warehouse::duckdb;

use minijinja::Value;
use warehouse::duckdb::types::ValueRef;
use warehouse::duckdb::Connection;

use crate::error::{Error, Result};
use crate::relation::Relation;

pub use dbt_jinja::database::QueryResult;
use dbt_jinja::database::{Database, DatabaseFailure};

/// A DuckDB connection shareable with Jinja objects (which must be `Sync`),
/// with the relation cache its clones share.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<warehouse::Conn>>,
    catalog: Arc<Mutex<CatalogState>>,
    /// Statements every new connection runs first (the profile's
    /// `settings`, which DuckDB may keep per connection).
    init: Arc<Vec<String>>,
    /// What the connection and its clones were asked while watched.
    watch: Arc<Watch>,
}

/// One relation looked up while a [`Watch`] was on, with the answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lookup {
    pub database: Option<String>,
    pub schema: String,
    pub identifier: String,
    pub kind: Option<String>,
}

/// What a command asked of the database, for the compile stamp
/// (`crate::compile_stamp`): a compile whose renders only looked relations
/// up (`is_incremental()`, `adapter.get_relation`) gives the same SQL while
/// those relations are as they were, and one that ran anything else on the
/// connection (`run_query`, `statement`, `get_columns_in_relation`) may
/// not. Off unless [`Db::watch`] turned it on; then every use of the
/// connection but the relation cache's own read counts as "other".
#[derive(Debug, Default)]
pub struct Watch {
    on: AtomicBool,
    other: AtomicBool,
    lookups: Mutex<Vec<Lookup>>,
}

impl Watch {
    fn touch(&self) {
        if self.on.load(Ordering::Relaxed) {
            self.other.store(true, Ordering::Relaxed);
        }
    }

    fn record(&self, lookup: impl FnOnce() -> Lookup) {
        if self.on.load(Ordering::Relaxed) {
            if let Ok(mut l) = self.lookups.lock() {
                l.push(lookup());
            }
        }
    }

    /// The relations looked up since the watch began, each once, sorted;
    /// None when anything else used the connection.
    pub fn lookups_only(&self) -> Option<Vec<Lookup>> {
        if self.other.load(Ordering::Relaxed) {
            return None;
        }
        let mut l = self.lookups.lock().ok()?.clone();
        l.sort_by(|a, b| {
            (&a.database, &a.schema, &a.identifier).cmp(&(&b.database, &b.schema, &b.identifier))
        });
        l.dedup();
        Some(l)
    }
}

/// The cache and a counter of changes: a catalog read that overlapped a
/// change (another connection noting a relation it created) is not kept,
/// or the cache would miss that relation.
#[derive(Debug, Default)]
struct CatalogState {
    cat: Option<Catalog>,
    generation: u64,
}

/// What relations and schemas exist, read in one query and then kept up to
/// date by the materializations, which know what they create and drop.
/// Looking a relation up in `information_schema` costs DuckDB ~1-2 ms of
/// planning, most of a trivial view's build, and a run asks for every node.
/// Any SQL the engine does not write itself (hooks, `run_query`,
/// `statement`, `adapter` calls) may change the catalog, so it empties the
/// cache and the next lookup reads it again, as dbt's relation cache would
/// be refreshed.
#[derive(Debug, Default)]
struct Catalog {
    /// (schema, identifier) lower-cased -> (database lower-cased, kind)
    relations: HashMap<(String, String), Vec<(String, &'static str)>>,
    /// (database, schema) lower-cased
    schemas: HashSet<(String, String)>,
}

/// Time spent inside DuckDB calls, all connections together (nanoseconds):
/// what the per-node overhead benchmark subtracts.
static DB_NANOS: AtomicU64 = AtomicU64::new(0);

/// The linked DuckDB's version (`v1.2.0`), for `tarmac debug`.
pub fn duckdb_version() -> String {
    Connection::open_in_memory()
        .and_then(|c| c.query_row("select version()", [], |r| r.get::<_, String>(0)))
        .unwrap_or_else(|_| "unknown".into())
}

/// Total time spent in DuckDB so far in this process.
pub fn time_in_duckdb() -> std::time::Duration {
    std::time::Duration::from_nanos(DB_NANOS.load(Ordering::Relaxed))
}

fn timed<T>(f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let r = f();
    DB_NANOS.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    r
}

fn kind_of(table_type: &str) -> &'static str {
    if table_type.contains("VIEW") {
        "view"
    } else {
        "table"
    }
}

fn to_value(v: ValueRef<'_>) -> Value {
    use warehouse::duckdb::types::Value as D;
    match v.to_owned() {
        D::Null => Value::from(()),
        D::Boolean(b) => Value::from(b),
        D::TinyInt(i) => Value::from(i as i64),
        D::SmallInt(i) => Value::from(i as i64),
        D::Int(i) => Value::from(i as i64),
        D::BigInt(i) => Value::from(i),
        D::HugeInt(i) => Value::from(i),
        D::UTinyInt(i) => Value::from(i as i64),
        D::USmallInt(i) => Value::from(i as i64),
        D::UInt(i) => Value::from(i as i64),
        D::UBigInt(i) => Value::from(i),
        D::Float(f) => Value::from(f as f64),
        D::Double(f) => Value::from(f),
        D::Text(s) => Value::from(s),
        other => owned_to_value(other),
    }
}

/// Dates, timestamps and decimals as agate gives them to dbt's Jinja
/// (`date`/`datetime` objects, numbers), the rest as text.
fn owned_to_value(v: duckdb::types::Value) -> Value {
    use warehouse::duckdb::types::{TimeUnit, Value as D};
    let micros = |unit: TimeUnit, n: i64| match unit {
        TimeUnit::Second => n.saturating_mul(1_000_000),
        TimeUnit::Millisecond => n.saturating_mul(1_000),
        TimeUnit::Microsecond => n,
        TimeUnit::Nanosecond => n / 1_000,
    };
    match v {
        D::Date32(days) => chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
            .map(|d| crate::pydatetime::DateTime::date(d).into_value())
            .unwrap_or_else(|| Value::from(days)),
        D::Timestamp(unit, n) => chrono::DateTime::from_timestamp_micros(micros(unit, n))
            .map(|d| crate::pydatetime::DateTime::naive(d.naive_utc()).into_value())
            .unwrap_or_else(|| Value::from(n)),
        D::Decimal(d) => {
            let s = d.to_string();
            if d.scale() == 0 {
                s.parse::<i128>().map(Value::from).unwrap_or(Value::from(s))
            } else {
                s.parse::<f64>().map(Value::from).unwrap_or(Value::from(s))
            }
        }
        D::Time64(unit, n) => {
            let us = micros(unit, n);
            let secs = (us / 1_000_000) as u32;
            chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                secs,
                ((us % 1_000_000) * 1000) as u32,
            )
            .map(|t| Value::from(t.to_string()))
            .unwrap_or_else(|| Value::from(n))
        }
        D::Enum(s) => Value::from(s),
        D::List(items) | D::Array(items) => Value::from(
            items
                .into_iter()
                .map(owned_to_value_any)
                .collect::<Vec<_>>(),
        ),
        other => Value::from(format!("{other:?}")),
    }
}

fn owned_to_value_any(v: duckdb::types::Value) -> Value {
    use warehouse::duckdb::types::Value as D;
    match v {
        D::Null => Value::from(()),
        D::Boolean(b) => Value::from(b),
        D::TinyInt(i) => Value::from(i as i64),
        D::SmallInt(i) => Value::from(i as i64),
        D::Int(i) => Value::from(i as i64),
        D::BigInt(i) => Value::from(i),
        D::HugeInt(i) => Value::from(i),
        D::Float(f) => Value::from(f as f64),
        D::Double(f) => Value::from(f),
        D::Text(s) => Value::from(s),
        other => owned_to_value(other),
    }
}

/// Whether user SQL (a hook, `run_query`, a `call statement`) certainly
/// leaves the catalog as it is: one statement (no `;` but a final one)
/// whose first word reads or writes rows only. Anything else may create,
/// drop or alter relations, and empties the relation cache. Why: hooks
/// and `run_query` are frequent in real projects (an INSERT per model in
/// dbt-project-evaluator, `get_query_results_as_dict` in dbt_utils), and
/// re-reading the catalog after each was a visible part of their time.
fn leaves_catalog_alone(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    // leading comments (the query comment dbt-style SQL often carries)
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            match r.split_once("*/") {
                Some((_, r)) => rest = r.trim_start(),
                None => return false,
            }
        } else {
            break;
        }
    }
    let body = rest.trim_end().trim_end_matches(';');
    if body.contains(';') {
        return false;
    }
    let word: String = body
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        word.as_str(),
        "select"
            | "with"
            | "values"
            | "from"
            | "insert"
            | "update"
            | "delete"
            | "describe"
            | "show"
            | "summarize"
            | "explain"
    )
}

impl Db {
    pub fn new(conn: impl Into<warehouse::Conn>) -> Self {
        let conn = conn.into();
        Db {
            conn: Arc::new(Mutex::new(conn)),
            catalog: Arc::new(Mutex::new(CatalogState::default())),
            init: Arc::new(Vec::new()),
            watch: Arc::new(Watch::default()),
        }
    }

    /// This connection as the Jinja layer and the materializations hold
    /// it: a [`Database`] shared between renders.
    pub fn shared(&self) -> Arc<dyn Database> {
        Arc::new(self.clone())
    }

    /// Start watching what this connection and its clones (made before or
    /// after) are asked; see [`Watch`].
    pub fn watch(&self) -> &Watch {
        self.watch.on.store(true, Ordering::Relaxed);
        &self.watch
    }

    /// Run `init` on this connection now and on every clone made later.
    pub fn with_init(mut self, init: Vec<String>) -> Result<Self> {
        {
            let conn = self.lock_quiet()?;
            for s in &init {
                timed(|| conn.execute_batch(s))?;
            }
        }
        self.init = Arc::new(init);
        Ok(self)
    }

    /// The connection, for any use: a watched connection counts it.
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, warehouse::Conn>> {
        self.watch.touch();
        self.lock_quiet()
    }

    /// The connection for the engine's own bookkeeping (the relation
    /// cache's read, a clone's setup), which a [`Watch`] does not count.
    fn lock_quiet(&self) -> Result<std::sync::MutexGuard<'_, warehouse::Conn>> {
        self.conn
            .lock()
            .map_err(|_| Error::Internal("connection lock poisoned".into()))
    }

    fn catalog(&self) -> Result<std::sync::MutexGuard<'_, CatalogState>> {
        self.catalog
            .lock()
            .map_err(|_| Error::Internal("catalog lock poisoned".into()))
    }

    /// Run `f` (SQL the engine did not write, which may change anything)
    /// with the relation cache dropped before *and* after: before, so `f`
    /// itself reads the catalog afresh; after, because another worker may
    /// have re-read the catalog while `f` ran, before its changes were
    /// committed, and kept a cache that misses them (a table this worker
    /// just created looked absent to `adapter.get_relation` downstream).
    fn invalidating<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.invalidate();
        let out = f();
        self.invalidate();
        out
    }

    /// Forget the relation cache (after SQL the engine did not write).
    pub fn invalidate(&self) {
        if let Ok(mut c) = self.catalog.lock() {
            c.cat = None;
            c.generation += 1;
        }
    }

    /// A new connection to the same database (for another worker thread),
    /// sharing this one's relation cache.
    pub fn try_clone(&self) -> Result<Db> {
        let conn = self.lock_quiet()?.try_clone()?;
        for s in self.init.iter() {
            timed(|| conn.execute_batch(s))?;
        }
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            catalog: self.catalog.clone(),
            init: self.init.clone(),
            watch: self.watch.clone(),
        })
    }

    /// Run SQL that may change anything (user SQL): the cache is dropped,
    /// unless the SQL is one statement that only reads or writes rows.
    pub fn execute(&self, sql: &str) -> Result<()> {
        if leaves_catalog_alone(sql) {
            return self.execute_known(sql);
        }
        self.invalidating(|| self.execute_known(sql))
    }

    /// Run SQL whose catalog changes the caller records with [`Db::note`].
    pub(crate) fn execute_known(&self, sql: &str) -> Result<()> {
        let conn = self.lock()?;
        timed(|| conn.execute_batch(sql))?;
        Ok(())
    }

    /// Run a query; values are cast to text where DuckDB has no simple Rust type.
    /// User SQL: the relation cache is dropped, unless the SQL is one
    /// statement that only reads or writes rows.
    pub fn query(&self, sql: &str) -> Result<QueryResult> {
        if leaves_catalog_alone(sql) {
            return self.query_known(sql);
        }
        self.invalidating(|| self.query_known(sql))
    }

    /// [`Db::query`] for SQL the engine knows only reads (a data test's
    /// query): the relation cache stays.
    pub(crate) fn query_known(&self, sql: &str) -> Result<QueryResult> {
        let conn = self.lock()?;
        timed(|| -> Result<QueryResult> {
            let mut stmt = conn.prepare(sql)?;
            let mut rows = stmt.query([])?;
            let mut out = QueryResult {
                columns: rows.as_ref().map(|s| s.column_names()).unwrap_or_default(),
                rows: Vec::new(),
            };
            let n = out.columns.len();
            while let Some(row) = rows.next()? {
                let mut vals = Vec::with_capacity(n);
                for i in 0..n {
                    vals.push(to_value(row.get_ref(i)?));
                }
                out.rows.push(vals);
            }
            Ok(out)
        })
    }

    /// Run statements in one transaction; rolled back on error. They may
    /// change anything: the relation cache is dropped.
    pub fn transaction(&self, statements: &[String]) -> Result<()> {
        self.invalidating(|| self.transaction_known(statements))
    }

    /// [`Db::transaction`] for the engine's own DDL, whose catalog changes
    /// the caller records with [`Db::note`] (or [`Db::invalidate`]).
    pub(crate) fn transaction_known(&self, statements: &[String]) -> Result<()> {
        let conn = self.lock()?;
        timed(|| -> Result<()> {
            conn.execute_batch("BEGIN TRANSACTION")?;
            for s in statements {
                if let Err(e) = conn.execute_batch(s) {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(e.into());
                }
            }
            if let Err(e) = conn.execute_batch("COMMIT") {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e.into());
            }
            Ok(())
        })
    }

    /// Record that `rel` now is a `kind` (`table`/`view`), or is gone (None).
    pub fn note(&self, rel: &crate::relation::Relation, kind: Option<&'static str>) {
        let Ok(mut guard) = self.catalog.lock() else {
            return;
        };
        guard.generation += 1;
        let Some(cat) = guard.cat.as_mut() else {
            return;
        };
        let key = (
            rel.schema.as_deref().unwrap_or("main").to_lowercase(),
            rel.identifier.to_lowercase(),
        );
        let dbname = rel.database.as_deref().unwrap_or("").to_lowercase();
        let entry = cat.relations.entry(key).or_default();
        // without a database we cannot tell which entry changed
        if dbname.is_empty() {
            guard.cat = None;
            return;
        }
        entry.retain(|(d, _)| *d != dbname);
        if let Some(k) = kind {
            entry.push((dbname.clone(), k));
            cat.schemas.insert((
                dbname,
                rel.schema.as_deref().unwrap_or("main").to_lowercase(),
            ));
        }
    }

    /// Read every relation and schema in one query (done when the cache is empty).
    fn load_catalog(&self) -> Result<Catalog> {
        let conn = self.lock_quiet()?;
        timed(|| -> Result<Catalog> {
            let mut cat = Catalog::default();
            // cached: a build reads the catalog again after every hook and
            // `run_query` (which empty the cache), and parsing and planning
            // these two statements was half of each read; the table
            // functions still list what is there when the statement runs
            let mut stmt = conn.prepare_cached(
                "SELECT database_name, schema_name, table_name, 'BASE TABLE' FROM duckdb_tables()
                 UNION ALL
                 SELECT database_name, schema_name, view_name, 'VIEW' FROM duckdb_views() WHERE NOT internal",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let (d, s, i, t): (String, String, String, String) =
                    (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                cat.relations
                    .entry((s.to_lowercase(), i.to_lowercase()))
                    .or_default()
                    .push((d.to_lowercase(), kind_of(&t)));
            }
            let mut stmt =
                conn.prepare_cached("SELECT database_name, schema_name FROM duckdb_schemas()")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let (d, s): (String, String) = (r.get(0)?, r.get(1)?);
                cat.schemas.insert((d.to_lowercase(), s.to_lowercase()));
            }
            Ok(cat)
        })
    }

    fn with_catalog<T>(&self, f: impl FnOnce(&Catalog) -> T) -> Result<T> {
        let generation = {
            let guard = self.catalog()?;
            if let Some(c) = guard.cat.as_ref() {
                return Ok(f(c));
            }
            guard.generation
        };
        let cat = self.load_catalog()?;
        let out = f(&cat);
        let mut guard = self.catalog()?;
        if guard.generation == generation {
            guard.cat = Some(cat);
        }
        Ok(out)
    }

    /// Whether a schema exists (from the cache).
    pub fn has_schema(&self, database: &str, schema: &str) -> Result<bool> {
        self.watch.touch();
        let key = (database.to_lowercase(), schema.to_lowercase());
        self.with_catalog(|c| c.schemas.contains(&key))
    }

    /// `table`, `view` or None when the relation does not exist.
    pub fn relation_kind(
        &self,
        database: Option<&str>,
        schema: &str,
        ident: &str,
    ) -> Result<Option<String>> {
        let key = (schema.to_lowercase(), ident.to_lowercase());
        let db = database.map(str::to_lowercase);
        let kind = self.with_catalog(|c| {
            c.relations.get(&key).and_then(|v| {
                v.iter()
                    .find(|(d, _)| db.as_deref().is_none_or(|want| want == d))
                    .map(|(_, k)| k.to_string())
            })
        })?;
        self.watch.record(|| Lookup {
            database: database.map(String::from),
            schema: schema.to_string(),
            identifier: ident.to_string(),
            kind: kind.clone(),
        });
        Ok(kind)
    }

    /// Column names and types, in order, as dbt-duckdb 1.11's
    /// `get_columns_in_relation` reads them: `DESCRIBE` of the relation
    /// (names the relation leaves out resolve as DuckDB resolves them), and
    /// none for a relation that does not exist. `information_schema.columns`
    /// (what this read before) scans every column of every relation,
    /// DuckDB's own views included: ~5 ms a call, a fifth of
    /// activity_schema's build, whose equality tests ask three times each.
    /// `DESCRIBE` also binds a view afresh, so a view whose upstream changed
    /// shows its columns as they are now, as in dbt.
    pub fn columns(&self, rel: &Relation) -> Result<Vec<(String, String)>> {
        let name = [rel.database.as_deref(), rel.schema.as_deref()]
            .into_iter()
            .flatten()
            .chain([rel.identifier.as_str()])
            .map(crate::relation::quote)
            .collect::<Vec<_>>()
            .join(".");
        let conn = self.lock()?;
        let read = || -> std::result::Result<Vec<(String, String)>, duckdb::Error> {
            let mut stmt = conn.prepare(&format!("DESCRIBE {name}"))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push((r.get(0)?, r.get(1)?));
            }
            Ok(out)
        };
        match timed(read) {
            Ok(cols) => Ok(cols),
            // dbt-duckdb returns no columns for "... does not exist" (a
            // caller probing whether a relation is there) and raises the rest
            Err(e) if e.to_string().to_lowercase().contains("does not exist") => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Relations in a schema of the default catalog.
    pub fn relations_in_schema(&self, schema: &str) -> Result<Vec<Relation>> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables WHERE lower(table_schema) = lower(?)",
        )?;
        let mut rows = stmt.query([schema])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let t: String = r.get(3)?;
            let (d, s, i): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let mut rel = Relation::new(&d, &s, &i);
            rel.kind = Some(if t.contains("VIEW") {
                "view".into()
            } else {
                "table".into()
            });
            out.push(rel);
        }
        Ok(out)
    }

    /// Run a closure with the raw connection (seeds use the appender). The
    /// relation cache is dropped: the closure may change anything.
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.invalidating(|| {
            let conn = self.lock()?;
            timed(|| f(&conn))
        })
    }
}

/// The Jinja layer's view of the database (`run_query`, `statement`, the
/// `adapter` methods): the same calls, with DuckDB's message as the
/// failure a render reports.
impl Database for Db {
    fn execute(&self, sql: &str) -> std::result::Result<(), DatabaseFailure> {
        Db::execute(self, sql).map_err(failure)
    }

    fn query(&self, sql: &str) -> std::result::Result<QueryResult, DatabaseFailure> {
        Db::query(self, sql).map_err(failure)
    }

    fn relation_kind(
        &self,
        database: Option<&str>,
        schema: &str,
        identifier: &str,
    ) -> std::result::Result<Option<String>, DatabaseFailure> {
        Db::relation_kind(self, database, schema, identifier).map_err(failure)
    }

    fn columns(
        &self,
        rel: &Relation,
    ) -> std::result::Result<Vec<(String, String)>, DatabaseFailure> {
        Db::columns(self, rel).map_err(failure)
    }

    fn relations_in_schema(
        &self,
        schema: &str,
    ) -> std::result::Result<Vec<Relation>, DatabaseFailure> {
        Db::relations_in_schema(self, schema).map_err(failure)
    }

    fn has_schema(
        &self,
        database: &str,
        schema: &str,
    ) -> std::result::Result<bool, DatabaseFailure> {
        Db::has_schema(self, database, schema).map_err(failure)
    }

    fn transaction(&self, statements: &[String]) -> std::result::Result<(), DatabaseFailure> {
        Db::transaction(self, statements).map_err(failure)
    }

    /// DuckDB's appender: a 10,000-row seed in one call, not ten `INSERT`s
    /// of literal text to parse.
    fn append_rows(
        &self,
        table: &Relation,
        rows: &[Vec<Option<String>>],
    ) -> std::result::Result<(), DatabaseFailure> {
        self.with_conn(|conn| {
            let mut app = conn.appender_to_catalog_and_db(
                &table.identifier,
                table.database.as_deref().unwrap_or("memory"),
                table.schema.as_deref().unwrap_or("main"),
            )?;
            for row in rows {
                app.append_row(duckdb::appender_params_from_iter(row))?;
            }
            app.flush()?;
            Ok(())
        })
        .map_err(failure)
    }

    fn execute_noted(&self, sql: &str) -> std::result::Result<(), DatabaseFailure> {
        Db::execute_known(self, sql).map_err(failure)
    }

    fn transaction_noted(&self, statements: &[String]) -> std::result::Result<(), DatabaseFailure> {
        Db::transaction_known(self, statements).map_err(failure)
    }

    fn note(&self, relation: &Relation, kind: Option<&'static str>) {
        Db::note(self, relation, kind)
    }

    fn invalidate(&self) {
        Db::invalidate(self)
    }

    /// A DuckDB connection of its own, with this one's `init` statements
    /// run and its relation cache shared; None when DuckDB refuses one.
    fn connection(&self) -> Option<Arc<dyn Database>> {
        self.try_clone().ok().map(|d| d.shared())
    }
}

fn failure(e: Error) -> DatabaseFailure {
    DatabaseFailure(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_introspect() {
        let db = Db::new(Connection::open_in_memory().unwrap());
        db.execute("CREATE TABLE t (a INTEGER, b VARCHAR); INSERT INTO t VALUES (1, 'x'); CREATE VIEW v AS SELECT 1 AS one").unwrap();
        let r = db.query("SELECT * FROM t").unwrap();
        assert_eq!(r.columns, vec!["a", "b"]);
        assert_eq!(r.rows[0][0], Value::from(1));
        assert_eq!(
            db.relation_kind(None, "main", "t").unwrap().as_deref(),
            Some("table")
        );
        assert_eq!(
            db.relation_kind(None, "main", "v").unwrap().as_deref(),
            Some("view")
        );
        assert_eq!(db.relation_kind(None, "main", "nope").unwrap(), None);
        let cols = db.columns(&Relation::new("memory", "main", "t")).unwrap();
        assert_eq!(cols[1], ("b".to_string(), "VARCHAR".to_string()));
        // names resolve case-insensitively, missing relations have no columns
        assert_eq!(
            db.columns(&Relation::new("MEMORY", "Main", "T")).unwrap(),
            cols
        );
        assert!(db
            .columns(&Relation::new("memory", "main", "nope"))
            .unwrap()
            .is_empty());
        assert!(db
            .columns(&Relation::new("memory", "nos", "nope"))
            .unwrap()
            .is_empty());
        // a view shows its columns as its upstream is now (DESCRIBE binds it),
        // and one that no longer binds is an error, as in dbt-duckdb
        db.execute("CREATE TABLE u AS SELECT 1 AS a; CREATE VIEW w AS SELECT * FROM u; CREATE OR REPLACE TABLE u AS SELECT 1 AS a, 2.5 AS b").unwrap();
        assert_eq!(
            db.columns(&Relation::new("memory", "main", "w"))
                .unwrap()
                .len(),
            2
        );
        db.execute("CREATE VIEW w2 AS SELECT a FROM u; ALTER TABLE u RENAME COLUMN a TO c")
            .unwrap();
        assert!(db.columns(&Relation::new("memory", "main", "w2")).is_err());
        assert!(db
            .transaction(&["INSERT INTO t VALUES (2, 'y')".into(), "SELECT nope".into()])
            .is_err());
        assert_eq!(
            db.query("SELECT count(*) FROM t").unwrap().rows[0][0],
            Value::from(1)
        );
    }

    #[test]
    fn only_row_statements_keep_the_relation_cache() {
        for keeps in [
            "select 1",
            "  /* {\"app\": \"dbt\"} */\n insert into t values (1);",
            "-- a note\nWITH x AS (select 1) select * from x",
            "update t set a = 1",
        ] {
            assert!(leaves_catalog_alone(keeps), "{keeps}");
        }
        for drops in [
            "create table t as select 1",
            "select 1; drop table t",
            "/* unterminated select 1",
            "alter table t add column b int",
            "begin",
            "",
        ] {
            assert!(!leaves_catalog_alone(drops), "{drops}");
        }
        // and the cache does see a table that user DDL made
        let db = Db::new(Connection::open_in_memory().unwrap());
        assert_eq!(
            db.relation_kind(None, "main", "made_by_a_hook").unwrap(),
            None
        );
        db.query("select 1").unwrap(); // the cache stays
        db.execute("create table made_by_a_hook as select 1 as a")
            .unwrap();
        assert_eq!(
            db.relation_kind(None, "main", "made_by_a_hook")
                .unwrap()
                .as_deref(),
            Some("table")
        );
        db.execute("insert into made_by_a_hook values (2)").unwrap();
        let r = db.query("select count(*) from made_by_a_hook").unwrap();
        assert_eq!(r.rows[0][0], Value::from(2));
    }

    #[test]
    fn current_date_without_icu() {
        // On a worker's clone too.
        let db = Db::new(Connection::open_in_memory().unwrap())
            .try_clone()
            .unwrap();
        let r = db
            .query(
                "SELECT current_date = CAST(CAST(get_current_timestamp() AS TIMESTAMP) AS DATE), \
                 today() = current_date(), current_date - DATE '2000-01-01' > 9000",
            )
            .unwrap();
        assert_eq!(r.rows[0], vec![Value::from(true); 3]);
    }
}
