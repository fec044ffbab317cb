//! Snapshots (<https://docs.getdbt.com/docs/build/snapshots>): type-2
//! history tables, defined as `{% snapshot %}` blocks in snapshot-paths or
//! in YAML (`relation:`, dbt 1.9), kept by the `timestamp` or `check`
//! strategy or by a custom one (a `snapshot_<name>_strategy` macro).
//!
//! What a snapshot does, as dbt documents it (the page above and
//! <https://docs.getdbt.com/reference/snapshot-configs>):
//!
//! - Every row of the table is one *version* of a source row, identified by
//!   `unique_key` (one expression or a list). Four meta columns describe it:
//!   `dbt_scd_id` (a hash of the key and the version's change time),
//!   `dbt_updated_at` and `dbt_valid_from` (the change time) and
//!   `dbt_valid_to` (when a later version replaced it). The version still in
//!   force is *open*: its `dbt_valid_to` is NULL, or the
//!   `dbt_valid_to_current` expression when that is configured.
//!   `snapshot_meta_column_names` renames any of these columns.
//! - The change time is the `updated_at` column for the timestamp strategy,
//!   where a row changed when its `updated_at` is later than the open
//!   version's `dbt_valid_from`. The check strategy uses the run time (or
//!   `updated_at` if given), and a row changed when any of `check_cols`
//!   differs (NULL-aware) from the open version, or the query gained a column.
//! - A key missing from the query is a hard delete, handled per `hard_deletes`:
//!   `ignore` leaves its open version alone; `invalidate` closes it at the run
//!   time; `new_record` closes it and adds a version with `dbt_is_deleted =
//!   'True'` (every version of such a table carries that fifth column), and a
//!   key that comes back after that starts a new version.
//!
//! The first run creates the table from the query plus the meta columns.
//! Later runs compute a staging table listing the changes (`insert` rows to
//! add, `update`/`delete` rows naming versions to close) and apply it with
//! an UPDATE and an INSERT, as dbt-duckdb does (the DuckDB we link has no
//! MERGE). `SnapshotSql` writes these statements; the SQL is the one dbt
//! emits for the same snapshot, so tables equal dbt's row for row, including
//! `dbt_scd_id` hashes for the timestamp strategy; columns holding the
//! snapshot time differ by when the run happened, as between two dbt runs.

use minijinja::Environment;
use serde_json::Value as Json;

use crate::config::{Config, ConfigExt};
use crate::database::Database;
use crate::error::{Error, Result};
use crate::materialize::Outcome;
use crate::relation::{quote, Relation};

/// The snapshot time: a timestamp without time zone, the value dbt-duckdb
/// uses for `snapshot_get_time()`.
pub const NOW: &str = "now()::timestamp";

/// One `{% snapshot name %}…{% endsnapshot %}` block: name, first line of
/// the body, and the body with the file's line numbers kept (leading newlines).
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub name: String,
    pub body: String,
}

/// Find the snapshot blocks of a file. Text outside blocks is ignored, as dbt does.
pub fn split_blocks(text: &str) -> std::result::Result<Vec<Block>, String> {
    let line = |at: usize| text[..at].matches('\n').count() + 1;
    let unclosed = |at: usize| format!("line {}: a `{{%` tag is not closed with `%}}`", line(at));
    let mut out = Vec::new();
    let mut tags = crate::blocks::tags(text);
    while let Some(open) = tags.find(|t| t.keyword == "snapshot") {
        let name = open.args();
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(format!(
                "line {}: a snapshot block needs a name: {{% snapshot name %}}",
                line(open.start)
            ));
        }
        let Some(close) = tags.find(|t| t.keyword == "endsnapshot") else {
            return Err(match tags.unclosed {
                Some(at) => unclosed(at),
                None => format!(
                    "line {}: snapshot {name} has no {{% endsnapshot %}}",
                    line(open.start)
                ),
            });
        };
        // keep `{%-`/`-%}` trimming of the surrounding tags
        let mut body = &text[open.end..close.start];
        if open.trail() == "-" {
            body = body.trim_start();
        }
        if close.lead == "-" {
            body = body.trim_end();
        }
        let skipped = text[..open.end].matches('\n').count();
        out.push(Block {
            name: name.to_string(),
            body: format!("{}{}", "\n".repeat(skipped), body),
        });
    }
    match tags.unclosed {
        Some(at) => Err(unclosed(at)),
        None => Ok(out),
    }
}

/// The raw SQL of a YAML snapshot: `select * from {{ relation }}` as dbt writes it.
pub fn yaml_raw_code(relation: &str) -> String {
    format!("select * from {{{{ {relation} }}}}")
}

/// Meta column names after `snapshot_meta_column_names`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MetaColumns {
    pub dbt_valid_from: String,
    pub dbt_valid_to: String,
    pub dbt_scd_id: String,
    pub dbt_updated_at: String,
    pub dbt_is_deleted: String,
}

impl MetaColumns {
    pub fn from_config(cfg: &Config) -> Self {
        let m = cfg.get("snapshot_meta_column_names");
        let get = |k: &str| {
            m.and_then(|m| m.get(k))
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .unwrap_or(k)
                .to_string()
        };
        MetaColumns {
            dbt_valid_from: get("dbt_valid_from"),
            dbt_valid_to: get("dbt_valid_to"),
            dbt_scd_id: get("dbt_scd_id"),
            dbt_updated_at: get("dbt_updated_at"),
            dbt_is_deleted: get("dbt_is_deleted"),
        }
    }
}

/// What a snapshot does with keys that disappear from its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardDeletes {
    /// Leave their open version open, as if the row were still there.
    Ignore,
    /// Close their open version at the run time.
    Invalidate,
    /// Close it and add a version marked `dbt_is_deleted = 'True'`.
    NewRecord,
}

impl HardDeletes {
    /// The mode a strategy macro names (`hard_deletes`, or the older
    /// `invalidate_hard_deletes: true`); an unknown or missing name ignores.
    fn named(mode: Option<&str>, legacy_invalidate: bool) -> Self {
        match mode {
            Some("invalidate") => HardDeletes::Invalidate,
            Some("new_record") => HardDeletes::NewRecord,
            _ if legacy_invalidate => HardDeletes::Invalidate,
            _ => HardDeletes::Ignore,
        }
    }
}

/// The `hard_deletes` mode of a snapshot's config. The older boolean
/// `invalidate_hard_deletes` still works, but not together with the newer
/// setting; an unknown mode is an error naming the valid ones.
pub fn hard_deletes(cfg: &Config) -> Result<HardDeletes> {
    let set = |k: &str| cfg.get(k).filter(|v| !v.is_null());
    let (legacy, mode) = (set("invalidate_hard_deletes"), set("hard_deletes"));
    if legacy.is_some() && mode.is_some() {
        return Err(Error::Project(
            "You cannot set both the invalidate_hard_deletes and hard_deletes config properties on the same snapshot.".into(),
        ));
    }
    if let Some(v) = legacy {
        let on = match v {
            Json::Bool(b) => *b,
            Json::String(s) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        return Ok(HardDeletes::named(None, on));
    }
    match mode.map(|m| m.as_str().ok_or(m)) {
        None | Some(Ok("ignore")) => Ok(HardDeletes::Ignore),
        Some(Ok(m @ ("invalidate" | "new_record"))) => Ok(HardDeletes::named(Some(m), false)),
        Some(Ok(other)) => Err(Error::Project(format!(
            "Invalid setting for property hard_deletes: {other:?} (ignore, invalidate, new_record)"
        ))),
        Some(Err(other)) => Err(Error::Project(format!(
            "Invalid setting for property hard_deletes: {other} (ignore, invalidate, new_record)"
        ))),
    }
}

/// dbt's `SnapshotConfig.final_validate`: what a snapshot must configure.
pub fn validate(cfg: &Config) -> std::result::Result<(), String> {
    let strategy = cfg.str_of("strategy").unwrap_or_default();
    if strategy.is_empty() || cfg.unique_key().is_empty() {
        return Err("Snapshots must be configured with a 'strategy' and 'unique_key'.".into());
    }
    match strategy {
        "check" => match cfg.get("check_cols") {
            None | Some(Json::Null) => Err("A snapshot configured with the check strategy must specify a check_cols configuration.".into()),
            Some(Json::String(s)) if s != "all" => Err(format!("Invalid value for 'check_cols': {s}. Expected 'all' or a list of strings.")),
            _ => Ok(()),
        },
        "timestamp" => {
            if cfg.str_of("updated_at").is_none() {
                Err("A snapshot configured with the timestamp strategy must specify an updated_at configuration.".into())
            } else if cfg.get("check_cols").is_some_and(|v| !v.is_null()) {
                Err("A 'timestamp' snapshot should not have 'check_cols'".into())
            } else {
                Ok(())
            }
        }
        // a custom strategy is a macro (`snapshot_<name>_strategy`), looked
        // up when the snapshot runs, as dbt's strategy_dispatch does
        _ => Ok(()),
    }
}

/// The macro a custom strategy name calls, as dbt's `strategy_dispatch`
/// finds it: `pkg.name` is `pkg.snapshot_name_strategy`; a bare name is
/// `snapshot_name_strategy` as the node's context resolves it (the node's
/// package, the root project, dbt's). `(package, call path)`.
pub fn strategy_macro(name: &str) -> (Option<&str>, String) {
    match name.split_once('.') {
        Some((pkg, n)) => (Some(pkg), format!("{pkg}.snapshot_{n}_strategy")),
        None => (None, format!("snapshot_{name}_strategy")),
    }
}

/// Whether `strategy` is one Tarmac implements itself.
pub fn is_builtin_strategy(strategy: &str) -> bool {
    matches!(strategy, "timestamp" | "check")
}

/// Column names of a query's result, without running it.
fn query_columns(db: &dyn Database, sql: &str) -> Result<Vec<String>> {
    Ok(db
        .query(&format!(
            "select * from (\n{sql}\n) as __dbt_sbq where false limit 0"
        ))?
        .columns)
}

/// A config or macro value used as SQL text: strings as they are, other
/// scalars as JSON prints them (as a Jinja template would render them).
fn sql_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The SQL expression for a version's `dbt_scd_id`: md5 over the arguments
/// cast to text, NULL counting as '', separated by '|'. The value (not just
/// the shape) must equal dbt's `snapshot_hash_arguments`, or ids would
/// differ from a table dbt built.
fn scd_hash(args: &[&str]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| format!("coalesce(cast({a} as varchar), '')"))
        .collect();
    format!("md5({})", parts.join(" || '|' || "))
}

/// The unique key as the staging SQL carries it. Each key expression is
/// copied into a column of a fixed name (`dbt_unique_key`, or
/// `dbt_unique_key_1..n` for a list), so the query's rows and the table's
/// versions are matched on the same names whatever the key looks like.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    One(String),
    Many(Vec<String>),
}

impl Key {
    fn from_json(v: &Json) -> Result<Key> {
        match v {
            Json::Array(a) if !a.is_empty() => Ok(Key::Many(a.iter().map(sql_text).collect())),
            Json::Null | Json::Array(_) => Err(Error::Project(
                "a snapshot needs a unique_key: a column (expression) or a list of them".into(),
            )),
            Json::String(s) if s.trim().is_empty() => Err(Error::Project(
                "a snapshot needs a unique_key: a column (expression) or a list of them".into(),
            )),
            other => Ok(Key::One(sql_text(other))),
        }
    }

    /// `(key expression, staging column)` pairs.
    fn parts(&self) -> Vec<(&str, String)> {
        match self {
            Key::One(e) => vec![(e.as_str(), "dbt_unique_key".to_string())],
            Key::Many(es) => es
                .iter()
                .enumerate()
                .map(|(i, e)| (e.as_str(), format!("dbt_unique_key_{}", i + 1)))
                .collect(),
        }
    }

    /// The staging columns' names (dropped before rows reach the table).
    fn staging_columns(&self) -> Vec<String> {
        self.parts().into_iter().map(|(_, c)| c).collect()
    }

    /// `expr as dbt_unique_key…`, to add to a `select *`.
    fn select_list(&self) -> String {
        let items: Vec<String> = self
            .parts()
            .into_iter()
            .map(|(e, c)| format!("{e} as {c}"))
            .collect();
        items.join(", ")
    }

    /// Rows of `a` and `b` are the same key.
    fn same(&self, a: &str, b: &str) -> String {
        let items: Vec<String> = self
            .staging_columns()
            .into_iter()
            .map(|c| format!("{a}.{c} = {b}.{c}"))
            .collect();
        items.join(" and ")
    }

    /// `side` found no row (after an outer join): its first key column is
    /// NULL.
    fn absent(&self, side: &str) -> String {
        format!("{side}.{} is null", self.staging_columns()[0])
    }

    /// The opposite of [`Key::absent`].
    fn present(&self, side: &str) -> String {
        format!("{side}.{} is not null", self.staging_columns()[0])
    }

    /// The key columns of a tombstone version, taken from the version it
    /// closes. A single key reuses its staged column; for a list dbt reads
    /// each key expression again on the snapshot row (the same value when,
    /// as usual, the keys are plain columns), and so do we.
    fn tombstone_keys(&self) -> String {
        let items: Vec<String> = match self {
            Key::One(_) => vec!["snapshotted_data.dbt_unique_key as dbt_unique_key".to_string()],
            Key::Many(_) => self
                .parts()
                .into_iter()
                .map(|(e, c)| format!("snapshotted_data.{e} as {c}"))
                .collect(),
        };
        items.join(", ")
    }
}

/// What a strategy decides, whether built in or a custom macro's result.
#[derive(Debug)]
struct Strategy {
    key: Key,
    /// The change time of a new version (an expression on the query's row).
    updated_at: String,
    /// True when the query's row (`source_data`) is a change from the open
    /// version (`snapshotted_data`). Unused on the first run.
    row_changed: String,
    /// The new version's `dbt_scd_id` expression.
    scd_id: String,
    hard_deletes: HardDeletes,
}

/// A custom strategy macro's result (`unique_key`, `updated_at`,
/// `row_changed`, `scd_id`, and `hard_deletes` or `invalidate_hard_deletes`)
/// as the strategy the snapshot SQL uses.
fn custom_strategy(r: &Json) -> Result<Strategy> {
    let text = |k: &str| -> Result<String> {
        match r.get(k) {
            Some(v) if !v.is_null() => Ok(sql_text(v)),
            _ => Err(Error::Project(format!(
                "the snapshot strategy macro returned no {k:?}"
            ))),
        }
    };
    let legacy = r.get("invalidate_hard_deletes").and_then(|v| v.as_bool()) == Some(true);
    Ok(Strategy {
        key: Key::from_json(r.get("unique_key").unwrap_or(&Json::Null))?,
        updated_at: text("updated_at")?,
        row_changed: text("row_changed")?,
        scd_id: text("scd_id")?,
        hard_deletes: HardDeletes::named(r.get("hard_deletes").and_then(|v| v.as_str()), legacy),
    })
}

/// The check strategy's change test over the columns `cols` shares with
/// the table: any of them differs, a NULL on one side only counting as a
/// difference (`!=` alone would be NULL there).
fn check_changed(cols: &[String]) -> String {
    let differs: Vec<String> = cols
        .iter()
        .map(|c| {
            let (old, new) = (format!("snapshotted_data.{c}"), format!("source_data.{c}"));
            format!(
                "{old} != {new}\n        or (({old} is null) and not ({new} is null))\n        or ((not {old} is null) and ({new} is null))"
            )
        })
        .collect();
    format!("({})", differs.join("\n        or "))
}

/// The columns the check strategy compares: all of the query's with
/// `check_cols: all`, else the listed ones (as the query names them).
fn check_columns(db: &dyn Database, cfg: &Config, sql: &str) -> Result<Vec<String>> {
    match cfg.get("check_cols") {
        Some(Json::String(s)) if s == "all" => query_columns(db, sql),
        Some(Json::Array(a)) if !a.is_empty() => {
            let list: Vec<String> = a.iter().map(sql_text).collect();
            query_columns(
                db,
                &format!("select {} from (\n{sql}\n) subq", list.join(", ")),
            )
        }
        other => Err(Error::Project(format!(
            "Invalid value for 'check_cols': {}",
            other.cloned().unwrap_or(Json::Null)
        ))),
    }
}

/// The built-in strategy for `cfg` (or the custom macro's result).
/// `target` is the existing table, `None` on the first run.
fn strategy(
    db: &dyn Database,
    cfg: &Config,
    cols: &MetaColumns,
    sql: &str,
    target: Option<&Relation>,
    custom: Option<&Json>,
) -> Result<Strategy> {
    if let Some(r) = custom {
        return custom_strategy(r);
    }
    let key = Key::from_json(cfg.get("unique_key").unwrap_or(&Json::Null))?;
    let (updated_at, row_changed) = match cfg.str_of("strategy").unwrap_or_default() {
        "timestamp" => {
            let u = cfg.str_of("updated_at").unwrap_or_default().to_string();
            let changed = format!(
                "(snapshotted_data.{} < source_data.{u})",
                cols.dbt_valid_from
            );
            (u, changed)
        }
        "check" => {
            let u = cfg.str_of("updated_at").unwrap_or(NOW).to_string();
            let changed = match target {
                None => String::new(),
                Some(t) => {
                    let existing: Vec<String> =
                        db.columns(t)?.into_iter().map(|(n, _)| n).collect();
                    let checked = check_columns(db, cfg, sql)?;
                    // a column the table lacks changes every row
                    if checked.iter().any(|c| !existing.contains(c)) {
                        "(TRUE)".to_string()
                    } else {
                        let quoted: Vec<String> = checked.iter().map(|c| quote(c)).collect();
                        check_changed(&quoted)
                    }
                }
            };
            (u, changed)
        }
        other => {
            return Err(Error::Project(format!(
                "snapshot strategy {other:?} is not supported (timestamp, check)"
            )))
        }
    };
    let mut hashed: Vec<&str> = key.parts().into_iter().map(|(e, _)| e).collect();
    hashed.push(&updated_at);
    let scd_id = scd_hash(&hashed);
    Ok(Strategy {
        key,
        updated_at,
        row_changed,
        scd_id,
        hard_deletes: hard_deletes(cfg)?,
    })
}

/// Writes a snapshot's statements from its strategy and meta column names.
/// The CTE names (`snapshotted_data`, `source_data`, ...) are part of the
/// contract: `row_changed` (ours or a custom strategy's) refers to them.
struct SnapshotSql<'a> {
    s: &'a Strategy,
    m: &'a MetaColumns,
    /// `dbt_valid_to_current`: what an open version holds in `dbt_valid_to`
    /// instead of NULL.
    open_marker: Option<String>,
}

impl<'a> SnapshotSql<'a> {
    fn new(s: &'a Strategy, m: &'a MetaColumns, cfg: &Config) -> Self {
        let open_marker = match cfg.get("dbt_valid_to_current") {
            None | Some(Json::Null | Json::Bool(false)) => None,
            Some(Json::String(v)) if v.is_empty() => None,
            Some(v) => Some(sql_text(v)),
        };
        SnapshotSql { s, m, open_marker }
    }

    fn new_record(&self) -> bool {
        self.s.hard_deletes == HardDeletes::NewRecord
    }

    /// `dbt_valid_to` of a new open version. `nullif(x, x)` is a NULL typed
    /// like `updated_at`, which gives the column that type on the first run
    /// even when no marker is configured.
    fn open_valid_to(&self) -> String {
        let u = &self.s.updated_at;
        let marker = self.open_marker.as_deref().unwrap_or("null");
        format!("coalesce(nullif({u}, {u}), {marker})")
    }

    /// `valid_to` (a column reference) marks an open version. A table built
    /// before the marker was configured has NULLs, which still count.
    fn is_open(&self, valid_to: &str) -> String {
        match &self.open_marker {
            Some(v) => format!("(({valid_to} = {v}) or {valid_to} is null)"),
            None => format!("{valid_to} is null"),
        }
    }

    /// The open version of a key is already a tombstone (new_record mode),
    /// so a key still missing needs neither closing nor another tombstone.
    fn open_tombstone(&self) -> String {
        let to = format!("snapshotted_data.{}", self.m.dbt_valid_to);
        let open = match &self.open_marker {
            Some(v) => format!("{to} = {v}"),
            None => format!("{to} is null"),
        };
        format!(
            "snapshotted_data.{} = 'True' and {open}",
            self.m.dbt_is_deleted
        )
    }

    /// The query's rows that start a new version, or, on the update side,
    /// close one: the strategy's test, plus in new_record mode a key whose
    /// open version is a tombstone (it came back).
    fn changed(&self) -> String {
        if self.new_record() {
            format!(
                "{} or snapshotted_data.{} = 'True'",
                self.s.row_changed, self.m.dbt_is_deleted
            )
        } else {
            self.s.row_changed.clone()
        }
    }

    /// The first run's table: the query's rows, each an open version.
    fn initial(&self, sql: &str) -> String {
        let (s, m) = (self.s, self.m);
        let mut meta = vec![
            format!("{} as {}", s.scd_id, m.dbt_scd_id),
            format!("{} as {}", s.updated_at, m.dbt_updated_at),
            format!("{} as {}", s.updated_at, m.dbt_valid_from),
            format!("{} as {}", self.open_valid_to(), m.dbt_valid_to),
        ];
        if self.new_record() {
            meta.push(format!("'False' as {}", m.dbt_is_deleted));
        }
        format!(
            "select *,\n    {}\nfrom (\n{sql}\n) sbq",
            meta.join(",\n    ")
        )
    }

    /// The staging query of a later run: one row per change, tagged by
    /// `dbt_change_type`. `insert` rows are new versions (new keys, changed
    /// rows, tombstones), in the table's column order followed by the
    /// staged key columns; `update` and `delete` rows carry the
    /// `dbt_scd_id` of the open version to close and, in `dbt_valid_to`,
    /// when. The branches line up by position for the `union all`.
    /// `source_cols`/`snapshotted_cols` (the query's and the table's
    /// columns) are needed for tombstones only.
    fn staging(
        &self,
        sql: &str,
        target: &str,
        source_cols: &[String],
        snapshotted_cols: &[String],
    ) -> String {
        let (s, m) = (self.s, self.m);
        let u = &s.updated_at;
        let keys = s.key.select_list();
        let same_key = s.key.same("snapshotted_data", "source_data");
        let tracks_deletes = s.hard_deletes != HardDeletes::Ignore;
        // new_record tables carry dbt_is_deleted in every branch
        let (fresh_flag, kept_flag) = if self.new_record() {
            (
                format!(",\n    'False' as {}", m.dbt_is_deleted),
                format!(",\n    snapshotted_data.{}", m.dbt_is_deleted),
            )
        } else {
            (String::new(), String::new())
        };

        let mut ctes: Vec<(&str, String)> = vec![
            ("snapshot_query", sql.to_string()),
            (
                "snapshotted_data",
                format!(
                    "select *, {keys}\nfrom {target}\nwhere {}",
                    self.is_open(&m.dbt_valid_to)
                ),
            ),
            (
                "insertions_source_data",
                format!(
                    "select *, {keys},\n    {u} as {},\n    {u} as {},\n    {} as {},\n    {} as {}\nfrom snapshot_query",
                    m.dbt_updated_at,
                    m.dbt_valid_from,
                    self.open_valid_to(),
                    m.dbt_valid_to,
                    s.scd_id,
                    m.dbt_scd_id
                ),
            ),
            (
                "updates_source_data",
                format!(
                    "select *, {keys},\n    {u} as {},\n    {u} as {},\n    {u} as {}\nfrom snapshot_query",
                    m.dbt_updated_at, m.dbt_valid_from, m.dbt_valid_to
                ),
            ),
        ];
        if tracks_deletes {
            ctes.push((
                "deletes_source_data",
                format!("select *, {keys}\nfrom snapshot_query"),
            ));
        }
        ctes.push((
            "insertions",
            format!(
                "select\n    'insert' as dbt_change_type,\n    source_data.*{fresh_flag}\nfrom insertions_source_data as source_data\nleft outer join snapshotted_data\n    on {same_key}\nwhere {}\n    or ({} and ({}))",
                s.key.absent("snapshotted_data"),
                s.key.present("snapshotted_data"),
                self.changed()
            ),
        ));
        ctes.push((
            "updates",
            format!(
                "select\n    'update' as dbt_change_type,\n    source_data.*,\n    snapshotted_data.{}{kept_flag}\nfrom updates_source_data as source_data\njoin snapshotted_data\n    on {same_key}\nwhere ({})",
                m.dbt_scd_id,
                self.changed()
            ),
        ));
        // versions whose key left the query
        let vanished = format!(
            "from snapshotted_data\nleft join deletes_source_data as source_data\n    on {same_key}\nwhere {}",
            s.key.absent("source_data")
        );
        let not_tombstoned = format!("\n    and not ({})", self.open_tombstone());
        if tracks_deletes {
            ctes.push((
                "deletes",
                format!(
                    "select\n    'delete' as dbt_change_type,\n    source_data.*,\n    {NOW} as {},\n    {NOW} as {},\n    {NOW} as {},\n    snapshotted_data.{}{kept_flag}\n{vanished}{}",
                    m.dbt_valid_from,
                    m.dbt_updated_at,
                    m.dbt_valid_to,
                    m.dbt_scd_id,
                    if self.new_record() { not_tombstoned.as_str() } else { "" }
                ),
            ));
        }
        if self.new_record() {
            // the tombstone: the query's columns (values from the closed
            // version where the table has the column), open until the key
            // returns
            let mut cols: Vec<String> = source_cols
                .iter()
                .map(|c| {
                    let side = if snapshotted_cols.contains(c) {
                        "snapshotted_data"
                    } else {
                        "source_data"
                    };
                    format!("{side}.{}", quote(c))
                })
                .collect();
            cols.push(s.key.tombstone_keys());
            cols.extend([
                format!("{NOW} as {}", m.dbt_valid_from),
                format!("{NOW} as {}", m.dbt_updated_at),
                format!("snapshotted_data.{0} as {0}", m.dbt_valid_to),
                format!("{} as {}", scd_hash(&[&m.dbt_scd_id, NOW]), m.dbt_scd_id),
                format!("'True' as {}", m.dbt_is_deleted),
            ]);
            ctes.push((
                "deletion_records",
                format!(
                    "select\n    'insert' as dbt_change_type,\n    {}\n{vanished}{not_tombstoned}",
                    cols.join(",\n    ")
                ),
            ));
        }

        let defs: Vec<String> = ctes
            .iter()
            .map(|(name, body)| format!("{name} as (\n{body}\n)"))
            .collect();
        let mut branches = vec!["insertions", "updates"];
        if tracks_deletes {
            branches.push("deletes");
        }
        if self.new_record() {
            branches.push("deletion_records");
        }
        let selects: Vec<String> = branches
            .iter()
            .map(|b| format!("select * from {b}"))
            .collect();
        format!(
            "with {}\n\n{}",
            defs.join(",\n\n"),
            selects.join("\nunion all\n")
        )
    }

    /// Apply a staging table to the snapshot: close the versions its
    /// `update`/`delete` rows name (still open ones only), then add its
    /// `insert` rows. `insert_cols` are quoted column names. The aliases
    /// are dbt-duckdb's, so the statement reads as dbt's does.
    fn apply(&self, target: &str, staging: &str, insert_cols: &[String]) -> String {
        let (to, id) = (&self.m.dbt_valid_to, &self.m.dbt_scd_id);
        let (src, dst) = ("DBT_INTERNAL_SOURCE", "DBT_INTERNAL_TARGET");
        let picked: Vec<String> = insert_cols.iter().map(|c| format!("{src}.{c}")).collect();
        format!(
            "update {target} as {dst}\n\
             set {to} = {src}.{to}\n\
             from {staging} as {src}\n\
             where {src}.{id}::text = {dst}.{id}::text\n  \
             and {src}.dbt_change_type::text in ('update'::text, 'delete'::text)\n  \
             and {};\n\n\
             insert into {target} ({})\n\
             select {}\n\
             from {staging} as {src}\n\
             where {src}.dbt_change_type::text = 'insert'::text;",
            self.is_open(&format!("{dst}.{to}")),
            insert_cols.join(", "),
            picked.join(", ")
        )
    }
}

/// Build or update a snapshot table from its compiled SELECT. `custom`
/// calls a custom strategy's macro with whether the table exists and
/// returns its result (see [`strategy_macro`]).
pub fn run(
    db: &dyn Database,
    rel: &Relation,
    sql: &str,
    cfg: &Config,
    custom: &dyn Fn(bool) -> Result<Json>,
) -> Result<Outcome> {
    validate(cfg).map_err(Error::Project)?;
    let cols = MetaColumns::from_config(cfg);
    let schema = rel.schema.as_deref().unwrap_or("main");
    let kind = db.relation_kind(rel.database.as_deref(), schema, &rel.identifier)?;
    if kind.as_deref() == Some("view") {
        return Err(Error::Project(format!(
            "Trying to create table {rel}, but it currently exists as a view. Either drop {rel} manually, or run dbt with `--full-refresh` and dbt will drop it for you."
        )));
    }
    let target = Relation {
        kind: None,
        ..rel.clone()
    };
    let exists = kind.is_some();
    let custom = if is_builtin_strategy(cfg.str_of("strategy").unwrap_or_default()) {
        None
    } else {
        Some(custom(exists)?)
    };
    let s = strategy(
        db,
        cfg,
        &cols,
        sql,
        exists.then_some(&target),
        custom.as_ref(),
    )?;
    let writer = SnapshotSql::new(&s, &cols, cfg);
    let header = cfg
        .str_of("sql_header")
        .map(|h| format!("{h}\n"))
        .unwrap_or_default();
    if !exists {
        let create = format!(
            "{header}create table {} as (\n{}\n);",
            target.render(),
            writer.initial(sql)
        );
        let stmts = vec![
            format!(
                "CREATE SCHEMA IF NOT EXISTS {}.{}",
                quote(rel.database.as_deref().unwrap_or("memory")),
                quote(schema)
            ),
            create.clone(),
        ];
        db.transaction(&stmts)?;
        return Ok(Outcome {
            message: "OK".into(),
            run_sql: create,
        });
    }
    let (source_cols, snapshotted_cols) = if s.hard_deletes == HardDeletes::NewRecord {
        let table: Vec<String> = db.columns(&target)?.into_iter().map(|(n, _)| n).collect();
        (query_columns(db, sql)?, table)
    } else {
        (vec![], vec![])
    };
    let staging_sql = writer.staging(sql, &target.render(), &source_cols, &snapshotted_cols);
    let staging_name = format!("{}__dbt_tmp", rel.identifier);
    let staging = Relation {
        database: Some("temp".into()),
        schema: Some("main".into()),
        identifier: staging_name.clone(),
        kind: None,
        quoting: Default::default(),
        external: None,
        limit: None,
        event_time: None,
        window: None,
    };
    db.execute(&format!(
        "{header}create or replace temporary table {} as (\n{staging_sql}\n);",
        quote(&staging_name)
    ))?;
    let result = (|| -> Result<Outcome> {
        // staging-only columns, in both cases as dbt drops them
        let mut internal: Vec<String> = vec!["dbt_change_type".into(), "dbt_unique_key".into()];
        if let Key::Many(_) = s.key {
            internal.extend(s.key.staging_columns());
        }
        let internal: Vec<String> = internal
            .into_iter()
            .flat_map(|c| [c.to_uppercase(), c])
            .collect();
        let staging_cols = db.columns(&staging)?;
        let target_cols: Vec<String> = db.columns(&target)?.into_iter().map(|(n, _)| n).collect();
        let mut stmts = Vec::new();
        // columns the query gained since the table was built
        for (name, ty) in &staging_cols {
            if !internal.contains(name) && !target_cols.contains(name) {
                stmts.push(format!(
                    "alter table {} add column {} {ty};",
                    target.render(),
                    quote(name)
                ));
            }
        }
        let insert_cols: Vec<String> = staging_cols
            .iter()
            .filter(|(n, _)| !internal.contains(n))
            .map(|(n, _)| quote(n))
            .collect();
        let merge = writer.apply(&target.render(), &quote(&staging_name), &insert_cols);
        stmts.push(merge.clone());
        db.transaction(&stmts)?;
        Ok(Outcome {
            message: "OK".into(),
            run_sql: merge,
        })
    })();
    let _ = db.execute(&format!(
        "DROP TABLE IF EXISTS temp.main.{}",
        quote(&staging_name)
    ));
    result
}

/// Find the project's snapshots (blocks in snapshot-paths and YAML
/// snapshots with `relation:`), render each once with `execute = false` to
/// capture `ref`/`source`/`config`, and add them to `nodes`. Errors are
/// collected per node, like models'.
pub(crate) fn discover(
    info: &crate::jinja::RunInfo,
    props: &crate::properties::Properties,
    env: &mut Environment<'static>,
    resolver: &std::sync::Arc<dyn crate::jinja::Resolver>,
    nodes: &mut indexmap::IndexMap<String, crate::manifest::Node>,
    errors: &mut Vec<String>,
) -> Result<()> {
    use crate::manifest::{read, walk};
    let project = &info.project;
    let root = &project.root;
    // (name, original file, path below its resource path, fqn, raw template, raw code)
    let mut found: Vec<(String, String, String, Vec<String>, String, String)> = Vec::new();
    for sp in &project.snapshot_paths {
        for (abs, rel) in walk(&root.join(sp), &["sql"])? {
            let text = read(&abs)?;
            let ofp = format!("{sp}/{rel}");
            let blocks = match split_blocks(&text) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(format!("{ofp}: {e}"));
                    continue;
                }
            };
            let no_ext = rel.strip_suffix(".sql").unwrap_or(&rel);
            for b in blocks {
                let mut fqn = vec![project.name.clone()];
                fqn.extend(no_ext.split('/').map(String::from));
                fqn.push(b.name.clone());
                let raw = b.body.trim_start_matches('\n').to_string();
                found.push((b.name, ofp.clone(), rel.clone(), fqn, b.body, raw));
            }
        }
    }
    for (name, p) in &props.snapshots {
        let Some(relation) = &p.relation else {
            continue;
        };
        let rel_in_path = [
            &project.model_paths,
            &project.seed_paths,
            &project.snapshot_paths,
        ]
        .iter()
        .flat_map(|v| v.iter())
        .find_map(|base| p.file.strip_prefix(&format!("{base}/")))
        .unwrap_or(&p.file)
        .to_string();
        let mut fqn = vec![project.name.clone()];
        let dirs: Vec<&str> = rel_in_path.split('/').collect();
        fqn.extend(
            dirs[..dirs.len().saturating_sub(1)]
                .iter()
                .map(|s| s.to_string()),
        );
        fqn.push(name.clone());
        let raw = yaml_raw_code(relation);
        found.push((
            name.clone(),
            p.file.clone(),
            format!("{rel_in_path}/{name}.sql"),
            fqn,
            raw.clone(),
            raw,
        ));
    }
    let target = &info.target;
    for (name, ofp, path, fqn, template, raw) in found {
        let unique_id = format!("snapshot.{}.{name}", project.name);
        if let Some(prev) = nodes.get(&unique_id) {
            errors.push(format!(
                "two snapshots are named {name}: {} and {ofp}",
                prev.original_file_path
            ));
            continue;
        }
        let mut cfg = Config::new();
        cfg.insert("materialized".into(), Json::from("snapshot"));
        let tree = project.tree_config(|p| &p.snapshots_config, &fqn[1..fqn.len() - 1], &name);
        crate::config::merge(&mut cfg, &tree);
        let p = props.snapshots.get(&name);
        if let Some(p) = p {
            crate::config::merge(&mut cfg, &p.config);
        }
        let template = crate::extras::preprocess(&template).into_owned();
        if let Err(e) = env.add_template_owned(unique_id.clone(), template) {
            errors.push(crate::Error::jinja(&unique_id, &ofp, &e).to_string());
            continue;
        }
        let mut node = crate::manifest::Node {
            original_file_path: ofp.clone(),
            path,
            fqn,
            checksum: {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(raw.as_bytes()))
            },
            raw_code: raw,
            config: cfg,
            ..crate::manifest::Node::in_project(
                unique_id.clone(),
                crate::manifest::ResourceType::Snapshot,
                name.clone(),
                project,
                (&target.database, &target.schema),
            )
            .documented(p)
        };
        let ctx = crate::compile::parse_ctx(&node, resolver.clone(), info.full_refresh, false);
        if let Err(e) =
            crate::builtins::parsing(|| crate::jinja::render(env, &unique_id, ctx.clone()))
        {
            errors.push(crate::Error::jinja(&unique_id, &ofp, &e).to_string());
            continue;
        }
        let lock_err = || Error::Internal("parse lock poisoned".into());
        crate::config::merge(
            &mut node.config,
            &*ctx.file_config.lock().map_err(|_| lock_err())?,
        );
        node.refs = ctx.refs.lock().map_err(|_| lock_err())?.clone();
        node.sources = ctx.sources.lock().map_err(|_| lock_err())?.clone();
        if !node.config.enabled() {
            continue;
        }
        if let Err(e) = validate(&node.config) {
            errors.push(format!("{unique_id} ({ofp}): {e}"));
            continue;
        }
        nodes.insert(unique_id, node);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use minijinja::Value;
    use serde_json::json;

    fn cfg(v: Json) -> Config {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn splits_blocks_keeping_lines() {
        let text = "-- x\n{% snapshot a %}\nselect 1\n{% endsnapshot %}\n\n{%- snapshot b -%}\nselect 2\n{%- endsnapshot %}";
        let b = split_blocks(text).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].name, "a");
        assert_eq!(b[0].body, "\n\nselect 1\n");
        assert_eq!(b[1].name, "b");
        assert_eq!(b[1].body.trim(), "select 2");
        assert_eq!(b[1].body.matches('\n').count(), 5);
        assert!(split_blocks("{% snapshot %}x{% endsnapshot %}").is_err());
        assert!(split_blocks("{% snapshot a %}x").is_err());
    }

    #[test]
    fn hard_delete_modes_and_validation() {
        assert_eq!(hard_deletes(&cfg(json!({}))).unwrap(), HardDeletes::Ignore);
        assert_eq!(
            hard_deletes(&cfg(json!({"invalidate_hard_deletes": true}))).unwrap(),
            HardDeletes::Invalidate
        );
        assert_eq!(
            hard_deletes(&cfg(json!({"invalidate_hard_deletes": false}))).unwrap(),
            HardDeletes::Ignore
        );
        assert_eq!(
            hard_deletes(&cfg(json!({"hard_deletes": "new_record"}))).unwrap(),
            HardDeletes::NewRecord
        );
        assert!(hard_deletes(&cfg(json!({"hard_deletes": "x"}))).is_err());
        assert!(hard_deletes(&cfg(json!({"hard_deletes": true}))).is_err());
        assert!(hard_deletes(&cfg(
            json!({"hard_deletes": "ignore", "invalidate_hard_deletes": false})
        ))
        .is_err());
        assert!(validate(&cfg(json!({"strategy": "timestamp", "unique_key": "id"}))).is_err());
        assert!(validate(&cfg(
            json!({"strategy": "check", "unique_key": "id", "check_cols": "x"})
        ))
        .is_err());
        assert!(validate(&cfg(
            json!({"strategy": "check", "unique_key": ["a", "b"], "check_cols": "all"})
        ))
        .is_ok());
    }

    #[test]
    fn timestamp_snapshot_over_two_runs() {
        let db = Db::new(warehouse::duckdb::Connection::open_in_memory().unwrap());
        db.execute("create table src as select * from (values (1, 'a', timestamp '2024-01-01'), (2, 'b', timestamp '2024-01-01')) t(id, v, u)").unwrap();
        let rel = Relation::new("memory", "main", "snap");
        let c = cfg(
            json!({"strategy": "timestamp", "unique_key": "id", "updated_at": "u", "hard_deletes": "invalidate"}),
        );
        run(&db, &rel, "select * from src", &c, &|_| unreachable!()).unwrap();
        db.execute("update src set v = 'c', u = timestamp '2024-02-01' where id = 1; delete from src where id = 2").unwrap();
        run(&db, &rel, "select * from src", &c, &|_| unreachable!()).unwrap();
        let r = db
            .query("select id, v, dbt_valid_to is null from snap order by id, dbt_valid_from")
            .unwrap();
        assert_eq!(r.rows.len(), 3);
        assert_eq!(r.rows[0][2], Value::from(false));
        assert_eq!(r.rows[1][1], Value::from("c"));
        assert_eq!(r.rows[1][2], Value::from(true));
        // the deleted row is closed
        assert_eq!(r.rows[2][2], Value::from(false));
        // a third run with no change adds nothing
        run(&db, &rel, "select * from src", &c, &|_| unreachable!()).unwrap();
        assert_eq!(db.query("select * from snap").unwrap().rows.len(), 3);
    }

    fn memory_db() -> Db {
        Db::new(warehouse::duckdb::Connection::open_in_memory().unwrap())
    }

    fn rows(db: &Db, sql: &str) -> Vec<Vec<Value>> {
        db.query(sql).unwrap().rows
    }

    #[test]
    fn keys_and_hashes_as_sql() {
        let one = Key::from_json(&json!("id")).unwrap();
        assert_eq!(one.select_list(), "id as dbt_unique_key");
        assert_eq!(one.same("a", "b"), "a.dbt_unique_key = b.dbt_unique_key");
        assert_eq!(one.absent("b"), "b.dbt_unique_key is null");
        let many = Key::from_json(&json!(["id", "day"])).unwrap();
        assert_eq!(
            many.select_list(),
            "id as dbt_unique_key_1, day as dbt_unique_key_2"
        );
        assert_eq!(
            many.same("a", "b"),
            "a.dbt_unique_key_1 = b.dbt_unique_key_1 and a.dbt_unique_key_2 = b.dbt_unique_key_2"
        );
        assert_eq!(many.present("a"), "a.dbt_unique_key_1 is not null");
        assert_eq!(
            many.tombstone_keys(),
            "snapshotted_data.id as dbt_unique_key_1, snapshotted_data.day as dbt_unique_key_2"
        );
        for bad in [json!(null), json!([]), json!("  ")] {
            let e = Key::from_json(&bad).unwrap_err().to_string();
            assert!(e.contains("unique_key"), "{e}");
        }
        // NULL and '' hash alike; the order of the arguments counts
        let db = memory_db();
        let h = |a: &str, b: &str| {
            rows(&db, &format!("select {}", scd_hash(&[a, b])))[0][0].to_string()
        };
        assert_eq!(h("null", "'x'"), h("''", "'x'"));
        assert_ne!(h("'a'", "'b'"), h("'b'", "'a'"));
        assert_eq!(
            h("1", "'x'"),
            rows(&db, "select md5('1|x')")[0][0].to_string()
        );
    }

    /// new_record: a deleted key gets a tombstone version (once, however
    /// many runs it stays away), and a key that comes back opens a new
    /// version; open versions carry `dbt_valid_to_current`, and renamed meta
    /// columns are used throughout.
    #[test]
    fn new_record_deletes_with_a_current_marker() {
        let db = memory_db();
        db.execute("create table src as select * from (values (1, 'a'), (2, 'b')) t(id, v)")
            .unwrap();
        let rel = Relation::new("memory", "main", "snap");
        let c = cfg(json!({
            "strategy": "check", "unique_key": "id", "check_cols": ["v"],
            "hard_deletes": "new_record",
            "dbt_valid_to_current": "timestamp '9999-12-31'",
            "snapshot_meta_column_names": {"dbt_is_deleted": "gone", "dbt_valid_to": "until"},
        }));
        let snap = |db: &Db| run(db, &rel, "select * from src", &c, &|_| unreachable!()).unwrap();
        let history = |db: &Db| {
            rows(
                db,
                "select id, v, gone, until = timestamp '9999-12-31' from snap order by id, dbt_valid_from, gone",
            )
            .into_iter()
            .map(|r| r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
        };
        snap(&db);
        assert_eq!(history(&db), ["1 a False True", "2 b False True"]);
        db.execute("delete from src where id = 2").unwrap();
        snap(&db);
        snap(&db);
        assert_eq!(
            history(&db),
            ["1 a False True", "2 b False False", "2 b True True"]
        );
        db.execute("insert into src values (2, 'c')").unwrap();
        snap(&db);
        assert_eq!(
            history(&db),
            [
                "1 a False True",
                "2 b False False",
                "2 b True False",
                "2 c False True"
            ]
        );
    }

    /// The check strategy with a composite key: only a changed checked
    /// column makes a version; a column the query gains is added to the
    /// table (not a change: it is not checked).
    #[test]
    fn check_strategy_with_a_composite_key() {
        let db = memory_db();
        db.execute("create table src as select * from (values (1, 'x', 'a', 10), (1, 'y', 'b', 20)) t(id, part, v, other)")
            .unwrap();
        let rel = Relation::new("memory", "main", "snap");
        let c =
            cfg(json!({"strategy": "check", "unique_key": ["id", "part"], "check_cols": ["v"]}));
        let snap = |db: &Db, sql: &str| run(db, &rel, sql, &c, &|_| unreachable!()).unwrap();
        snap(&db, "select * from src");
        // `other` is not checked: no new version
        db.execute("update src set other = 11 where part = 'x'")
            .unwrap();
        snap(&db, "select * from src");
        assert_eq!(rows(&db, "select * from snap").len(), 2);
        db.execute("update src set v = 'c' where part = 'y'")
            .unwrap();
        let o = snap(&db, "select * from src");
        assert!(o.run_sql.starts_with("update"), "{}", o.run_sql);
        let open = rows(
            &db,
            "select part, v from snap where dbt_valid_to is null order by part",
        );
        assert_eq!(open.len(), 2);
        assert_eq!(open[1][1], Value::from("c"));
        assert_eq!(rows(&db, "select * from snap").len(), 3);
        snap(&db, "select *, 1 as added from src");
        assert_eq!(rows(&db, "select added from snap").len(), 3);
        // the staging key columns never reach the table
        let names: Vec<String> = db
            .columns(&rel)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with("dbt_unique_key")),
            "{names:?}"
        );
    }

    /// A snapshot's calls with no database (the `Recording` adapter).
    #[test]
    fn recorded_first_run_creates_the_table_and_a_view_in_the_way_is_refused() {
        use crate::database::{Call, Recording};
        let rel = Relation::new("d", "snapshots", "snap");
        let c = cfg(json!({"strategy": "timestamp", "unique_key": "id", "updated_at": "u"}));
        let db = Recording::new();
        let out = run(&db, &rel, "select * from src", &c, &|_| unreachable!()).unwrap();
        let calls = db.calls();
        assert_eq!(
            calls.last(),
            Some(&Call::Transaction(vec![
                "CREATE SCHEMA IF NOT EXISTS \"d\".\"snapshots\"".into(),
                out.run_sql.clone()
            ])),
            "{calls:?}"
        );
        assert!(out
            .run_sql
            .starts_with("create table \"d\".\"snapshots\".\"snap\" as ("));
        assert!(
            out.run_sql.contains("u as dbt_valid_from"),
            "{}",
            out.run_sql
        );
        // a view where the table should be: an error, and nothing runs
        let db = Recording::new().with_relation(rel.clone(), "view", &[("id", "INTEGER")]);
        let e = run(&db, &rel, "select * from src", &c, &|_| unreachable!()).unwrap_err();
        assert!(e.to_string().contains("currently exists as a view"), "{e}");
        assert!(db.statements().is_empty());
    }
}
