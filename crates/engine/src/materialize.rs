//! Materializations on DuckDB, written in Rust to dbt's documented behaviour
//! (<https://docs.getdbt.com/docs/build/materializations>,
//! <https://docs.getdbt.com/docs/build/incremental-strategy>). Each returns
//! the statements it ran (for `target/run/`) and a status message.
//! A table is built under `<alias>__dbt_tmp` and swapped in within one
//! transaction, so a failing model never destroys the previous table.

use crate::config::{Config, ConfigExt};
use crate::database::Database;
use crate::error::{Error, Result};
use crate::relation::{quote, Relation};

/// What a materialization did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub message: String,
    /// The main statement (written to `target/run/`).
    pub run_sql: String,
}

fn schema_sql(rel: &Relation) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {}.{}",
        quote(rel.database.as_deref().unwrap_or("memory")),
        quote(rel.schema.as_deref().unwrap_or("main"))
    )
}

fn drop_existing(kind: Option<&str>, rel: &Relation) -> Option<String> {
    match kind {
        Some("view") => Some(format!("DROP VIEW IF EXISTS {}", rel.render())),
        Some(_) => Some(format!("DROP TABLE IF EXISTS {}", rel.render())),
        None => None,
    }
}

/// `CREATE SCHEMA` when the cache does not know the schema (the run creates
/// schemas up front, so this is mostly a lookup).
fn ensure_schema(db: &dyn Database, rel: &Relation, stmts: &mut Vec<String>) -> Result<()> {
    let known = match (&rel.database, &rel.schema) {
        (Some(d), Some(s)) => db.has_schema(d, s)?,
        _ => false,
    };
    if !known {
        stmts.push(schema_sql(rel));
    }
    Ok(())
}

/// Record what a materialization changed; a `sql_header` is user SQL that
/// may have changed anything.
fn record(db: &dyn Database, config: &Config, changes: &[(&Relation, Option<&'static str>)]) {
    if config.str_of("sql_header").is_some() {
        db.invalidate();
        return;
    }
    for (rel, kind) in changes {
        db.note(rel, *kind);
    }
}

fn with_header(config: &Config, sql: String) -> String {
    match config.str_of("sql_header") {
        Some(h) => format!("{h}\n{sql}"),
        None => sql,
    }
}

pub fn view(db: &dyn Database, rel: &Relation, sql: &str, config: &Config) -> Result<Outcome> {
    let kind = db.relation_kind(
        rel.database.as_deref(),
        rel.schema.as_deref().unwrap_or("main"),
        &rel.identifier,
    )?;
    let create = with_header(
        config,
        format!(
            "create or replace view {} as (\n{}\n);",
            rel.render(),
            sql.trim_end()
        ),
    );
    let mut stmts = vec![];
    ensure_schema(db, rel, &mut stmts)?;
    if kind.as_deref() == Some("table") {
        stmts.extend(drop_existing(kind.as_deref(), rel));
    }
    stmts.push(create.clone());
    db.transaction_noted(&stmts)?;
    record(db, config, &[(rel, Some("view"))]);
    Ok(Outcome {
        message: "OK".into(),
        run_sql: create,
    })
}

pub fn table(db: &dyn Database, rel: &Relation, sql: &str, config: &Config) -> Result<Outcome> {
    let kind = db.relation_kind(
        rel.database.as_deref(),
        rel.schema.as_deref().unwrap_or("main"),
        &rel.identifier,
    )?;
    let tmp = Relation {
        identifier: format!("{}__dbt_tmp", rel.identifier),
        kind: None,
        ..rel.clone()
    };
    let create = with_header(
        config,
        format!("create table {} as (\n{}\n);", tmp.render(), sql.trim_end()),
    );
    let mut stmts = vec![];
    ensure_schema(db, rel, &mut stmts)?;
    stmts.push(format!("DROP TABLE IF EXISTS {}", tmp.render()));
    stmts.push(create.clone());
    stmts.extend(drop_existing(kind.as_deref(), rel));
    stmts.push(format!(
        "ALTER TABLE {} RENAME TO {}",
        tmp.render(),
        quote(&rel.identifier)
    ));
    db.transaction_noted(&stmts)?;
    record(db, config, &[(&tmp, None), (rel, Some("table"))]);
    Ok(Outcome {
        message: "OK".into(),
        run_sql: create,
    })
}

/// Whether `is_incremental()` is true: the relation exists as a table and
/// this is not a full refresh.
pub fn is_incremental(
    db: &dyn Database,
    rel: &Relation,
    config: &Config,
    full_refresh: bool,
) -> Result<bool> {
    if config.materialized() != "incremental" || full_refresh_for(config, full_refresh) {
        return Ok(false);
    }
    let kind = db.relation_kind(
        rel.database.as_deref(),
        rel.schema.as_deref().unwrap_or("main"),
        &rel.identifier,
    )?;
    Ok(kind.as_deref() == Some("table"))
}

/// `full_refresh` config overrides the flag (<https://docs.getdbt.com/reference/resource-configs/full_refresh>).
pub fn full_refresh_for(config: &Config, flag: bool) -> bool {
    match config.get("full_refresh") {
        Some(serde_json::Value::Bool(b)) => *b,
        _ => flag,
    }
}

pub fn incremental(
    db: &dyn Database,
    rel: &Relation,
    sql: &str,
    config: &Config,
    full_refresh: bool,
) -> Result<Outcome> {
    if !is_incremental(db, rel, config, full_refresh)? {
        return table(db, rel, sql, config);
    }
    let tmp_name = format!("{}__dbt_tmp", rel.identifier);
    let tmp = Relation {
        database: Some("temp".into()),
        schema: Some("main".into()),
        identifier: tmp_name.clone(),
        kind: None,
        quoting: Default::default(),
        external: None,
        limit: None,
        event_time: None,
        window: None,
    };
    let create = with_header(
        config,
        format!(
            "create or replace temporary table {} as (\n{}\n);",
            quote(&tmp_name),
            sql.trim_end()
        ),
    );
    db.execute_noted(&create)?;
    if config.str_of("sql_header").is_some() {
        db.invalidate();
    }
    let result = (|| -> Result<Outcome> {
        let src_cols = db.columns(&tmp)?;
        let dest_cols = db.columns(&Relation {
            kind: None,
            ..rel.clone()
        })?;
        let has = |cols: &[(String, String)], n: &str| {
            cols.iter().any(|(c, _)| c.eq_ignore_ascii_case(n))
        };
        let added: Vec<(String, String)> = src_cols
            .iter()
            .filter(|(c, _)| !has(&dest_cols, c))
            .cloned()
            .collect();
        let removed: Vec<(String, String)> = dest_cols
            .iter()
            .filter(|(c, _)| !has(&src_cols, c))
            .cloned()
            .collect();
        let mode = config.str_of("on_schema_change").unwrap_or("ignore");
        let mut stmts = Vec::new();
        let mut insert_cols: Vec<String> = dest_cols
            .iter()
            .filter(|(c, _)| has(&src_cols, c))
            .map(|(c, _)| c.clone())
            .collect();
        if !added.is_empty() || !removed.is_empty() {
            match mode {
                "ignore" => {}
                "fail" => {
                    return Err(Error::Project(format!(
                        "The source and target schemas on this incremental model are out of sync! new columns: {:?}, missing columns: {:?} (on_schema_change: fail)",
                        added.iter().map(|c| &c.0).collect::<Vec<_>>(),
                        removed.iter().map(|c| &c.0).collect::<Vec<_>>()
                    )))
                }
                "append_new_columns" | "sync_all_columns" => {
                    for (c, t) in &added {
                        stmts.push(format!("ALTER TABLE {} ADD COLUMN {} {t}", rel.render(), quote(c)));
                        insert_cols.push(c.clone());
                    }
                    if mode == "sync_all_columns" {
                        for (c, _) in &removed {
                            stmts.push(format!("ALTER TABLE {} DROP COLUMN {}", rel.render(), quote(c)));
                        }
                    }
                }
                other => return Err(Error::Project(format!("invalid on_schema_change value {other:?} (ignore, fail, append_new_columns, sync_all_columns)"))),
            }
        }
        let cols = insert_cols
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let keys = config.unique_key();
        let strategy = config
            .str_of("incremental_strategy")
            .unwrap_or(if keys.is_empty() {
                "append"
            } else {
                "delete+insert"
            });
        let predicates: Vec<String> = match config
            .get("incremental_predicates")
            .or_else(|| config.get("predicates"))
        {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            _ => vec![],
        };
        let mut insert_filter = String::new();
        match strategy {
            "append" => {}
            "merge" => {
                // the target's columns as they will be: what an explicit
                // UPDATE SET assigns when no column list is given
                let mut target_cols: Vec<String> =
                    dest_cols.iter().map(|(c, _)| c.clone()).collect();
                if matches!(mode, "append_new_columns" | "sync_all_columns") {
                    target_cols.extend(added.iter().map(|(c, _)| c.clone()));
                }
                if mode == "sync_all_columns" {
                    target_cols.retain(|c| !has(&removed, c));
                }
                let merge = crate::merge::merge_sql(
                    config,
                    &crate::merge::MergeInput {
                        target: &rel.render(),
                        source: &quote(&tmp_name),
                        unique_key: &keys,
                        predicates: &predicates,
                        dest_columns: &target_cols,
                    },
                )?;
                stmts.push(merge);
                db.transaction(&stmts)?;
                return Ok(Outcome {
                    message: "OK".into(),
                    run_sql: stmts.join(";\n") + ";",
                });
            }
            // one batch of a microbatch model (crate::microbatch): its
            // window's rows replaced, as dbt-duckdb's delete+insert on
            // event_time does
            "microbatch" => {
                let (Some(col), Some(batch)) =
                    (config.str_of("event_time"), crate::jinja::current_batch())
                else {
                    return Err(Error::Project(
                        "microbatch incremental strategy requires an 'event_time' model config and a batch to run".into(),
                    ));
                };
                let window = format!("{col} >= '{}' and {col} < '{}'", batch.start, batch.end);
                let mut cond = vec![window.clone()];
                cond.extend(predicates.iter().map(|p| format!("({p})")));
                stmts.push(format!(
                    "delete from {} where {}",
                    rel.render(),
                    cond.join(" and ")
                ));
                insert_filter = format!(" WHERE {window}");
            }
            "delete+insert" => {
                if !keys.is_empty() {
                    let mut cond: Vec<String> = keys
                        .iter()
                        .map(|k| {
                            format!(
                                "{}.{} = {}.{}",
                                quote(&rel.identifier),
                                quote(k.trim()),
                                quote(&tmp_name),
                                quote(k.trim())
                            )
                        })
                        .collect();
                    cond.extend(predicates.iter().map(|p| format!("({p})")));
                    stmts.push(format!(
                        "DELETE FROM {} USING {} WHERE {}",
                        rel.render(),
                        quote(&tmp_name),
                        cond.join(" AND ")
                    ));
                }
            }
            other => {
                return Err(Error::Project(format!(
                "invalid incremental_strategy {other:?} (append, delete+insert, merge, microbatch)"
            )))
            }
        }
        let insert = format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM {}{insert_filter}",
            rel.render(),
            quote(&tmp_name)
        );
        stmts.push(insert);
        db.transaction(&stmts)?;
        Ok(Outcome {
            message: "OK".into(),
            run_sql: stmts.join(";\n") + ";",
        })
    })();
    let _ = db.execute_noted(&format!(
        "DROP TABLE IF EXISTS temp.main.{}",
        quote(&tmp_name)
    ));
    result
}

/// A config value as the text dbt-duckdb's `render()` gives it.
fn config_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => crate::extras::py_str(&minijinja::Value::from_serialize(other)),
    }
}

/// What dbt-duckdb's `external` materialization does: the model's rows
/// written to a file (`COPY ... TO`, Parquet unless the location or `format`
/// says csv or json) and a view of the same name reading it back. The
/// location is `location`, else `<external_root>/<alias>.<format>` (a
/// directory with `options.partition_by`); `options`, `format` and
/// `delimiter` become the COPY options as `external_write_options` builds
/// them; the read options default as dbt-duckdb's
/// (`union_by_name=False`, `auto_detect=True`). An empty result is written
/// as one all-NULL row and filtered out by the view, as dbt-duckdb does, so
/// the file keeps the columns.
pub fn external(
    db: &dyn Database,
    rel: &Relation,
    sql: &str,
    config: &Config,
    external_root: &str,
) -> Result<Outcome> {
    let bad = |m: String| Error::Project(format!("{}: {m}", rel.identifier));
    let mut options: Vec<(String, String)> = match config.get("options") {
        None | Some(serde_json::Value::Null) => vec![],
        Some(serde_json::Value::Object(o)) => {
            o.iter().map(|(k, v)| (k.clone(), config_text(v))).collect()
        }
        Some(_) => return Err(bad("The options argument must be a dictionary".into())),
    };
    let set = |opts: &mut Vec<(String, String)>, k: &str, v: String| match opts
        .iter_mut()
        .find(|(ok, _)| ok == k)
    {
        Some(e) => e.1 = v,
        None => opts.push((k.to_string(), v)),
    };
    let format_cfg = config
        .get("format")
        .filter(|v| !v.is_null())
        .map(config_text);
    if let Some(f) = &format_cfg {
        set(&mut options, "format", f.clone());
    }
    if let Some(d) = config.get("delimiter").filter(|v| !v.is_null()) {
        set(&mut options, "delimiter", config_text(d));
    }
    let get = |opts: &[(String, String)], k: &str| {
        opts.iter().find(|(ok, _)| ok == k).map(|(_, v)| v.clone())
    };
    let location = match config.get("location").filter(|v| !v.is_null()) {
        Some(l) => config_text(l),
        None if get(&options, "partition_by").is_some() => {
            format!("{external_root}/{}", rel.identifier)
        }
        None => format!(
            "{external_root}/{}.{}",
            rel.identifier,
            format_cfg.clone().unwrap_or_else(|| "parquet".into())
        ),
    };
    let allowed = ["csv", "parquet", "json"];
    let format = match &format_cfg {
        Some(f) if !allowed.contains(&f.as_str()) => {
            return Err(bad(format!(
                "Invalid format: {f}. Allowed formats are: {}",
                allowed.join(", ")
            )))
        }
        Some(f) => f.clone(),
        None => match location.rsplit_once('.') {
            Some((_, ext)) if allowed.contains(&ext.to_lowercase().as_str()) => ext.to_lowercase(),
            _ => "parquet".into(),
        },
    };
    // adapter.external_write_options
    if get(&options, "format").is_none() {
        let file = location.rsplit('/').next().unwrap_or(&location);
        let ext = file
            .rfind('.')
            .filter(|i| *i > 0)
            .map(|i| file[i + 1..].to_lowercase());
        let f = match ext {
            Some(e) => e,
            None if get(&options, "delimiter").is_some() => "csv".into(),
            None => "parquet".into(),
        };
        set(&mut options, "format", f);
    }
    if get(&options, "format").as_deref() == Some("csv") && get(&options, "header").is_none() {
        set(&mut options, "header", "1".into());
    }
    if let Some(p) = get(&options, "partition_by") {
        if p.contains(',') && !p.starts_with('(') {
            set(&mut options, "partition_by", format!("({p})"));
        }
    }
    let write_options = options
        .iter()
        .map(|(k, v)| {
            let quoted = ["delimiter", "quote", "escape", "null"]
                .contains(&k.to_lowercase().as_str())
                && !v.starts_with('\'');
            if quoted {
                format!("{k} '{v}'")
            } else {
                format!("{k} {v}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    // adapter.external_read_location
    let read_location = match (
        get(&options, "partition_by"),
        get(&options, "per_thread_output"),
    ) {
        (None, None) => location.clone(),
        (p, _) => {
            let mut globs = vec![location.clone(), "*".into()];
            if let Some(p) = p {
                globs.extend(std::iter::repeat_n("*".to_string(), p.split(',').count()));
            }
            format!(
                "{}.{}",
                globs.join("/"),
                get(&options, "format").unwrap_or_else(|| "parquet".into())
            )
        }
    };
    let read_options = |key: &str, default: (&str, &str)| -> String {
        match config.get(key).and_then(|v| v.as_object()) {
            Some(o) => o
                .iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!(", {k}='{s}'"),
                    other => format!(", {k}={}", config_text(other)),
                })
                .collect(),
            None => format!(", {}={}", default.0, default.1),
        }
    };
    let reader = match format.as_str() {
        "json" => format!(
            "read_json('{read_location}'{})",
            read_options("json_read_options", ("auto_detect", "True"))
        ),
        "csv" => format!(
            "read_csv('{read_location}'{})",
            read_options("csv_read_options", ("auto_detect", "True"))
        ),
        _ => format!(
            "read_parquet('{read_location}'{})",
            read_options("parquet_read_options", ("union_by_name", "False"))
        ),
    };
    let tmp = Relation {
        identifier: format!("{}__dbt_tmp", rel.identifier),
        kind: None,
        ..rel.clone()
    };
    let int = Relation {
        identifier: format!("{}__dbt_int", rel.identifier),
        kind: None,
        ..rel.clone()
    };
    let create = with_header(
        config,
        format!("create table {} as (\n{}\n);", tmp.render(), sql.trim_end()),
    );
    let mut pre = vec![];
    ensure_schema(db, rel, &mut pre)?;
    pre.push(format!("DROP TABLE IF EXISTS {}", tmp.render()));
    pre.push(format!("DROP VIEW IF EXISTS {}", int.render()));
    pre.push(create.clone());
    db.execute(&pre.join(";\n"))?;
    let cols = db.columns(&tmp)?;
    let count = db.query(&format!(
        "select count(*) as row_count from {}",
        tmp.render()
    ))?;
    let empty = count
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_i64())
        == Some(0);
    let mut stmts = vec![];
    let mut filter = String::new();
    if empty {
        stmts.push(format!(
            "insert into {} values ({})",
            tmp.render(),
            vec!["NULL"; cols.len()].join(", ")
        ));
        filter = format!(
            " where 1{}",
            cols.iter()
                .map(|(c, _)| format!(" AND {} is not NULL", quote(c)))
                .collect::<String>()
        );
    }
    stmts.push(format!(
        "copy {} to '{}' ({write_options})",
        tmp.render(),
        location.replace('\'', "''")
    ));
    stmts.push(format!(
        "create or replace view {} as (select * from {reader}{filter})",
        int.render()
    ));
    let kind = db.relation_kind(
        rel.database.as_deref(),
        rel.schema.as_deref().unwrap_or("main"),
        &rel.identifier,
    )?;
    stmts.extend(drop_existing(kind.as_deref(), rel));
    stmts.push(format!(
        "ALTER VIEW {} RENAME TO {}",
        int.render(),
        quote(&rel.identifier)
    ));
    stmts.push(format!("DROP TABLE IF EXISTS {}", tmp.render()));
    db.execute(&stmts.join(";\n"))?;
    Ok(Outcome {
        message: "OK".into(),
        run_sql: create,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use serde_json::json;

    fn cfg(v: serde_json::Value) -> Config {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn table_swap_keeps_old_table_on_failure() {
        let db = Db::new(warehouse::duckdb::Connection::open_in_memory().unwrap());
        let rel = Relation::new("memory", "s", "t");
        table(&db, &rel, "select 1 as a", &Config::new()).unwrap();
        assert!(table(&db, &rel, "select nope", &Config::new()).is_err());
        assert_eq!(db.query("select a from s.t").unwrap().rows.len(), 1);
        view(&db, &rel, "select 2 as a", &Config::new()).unwrap();
        assert_eq!(
            db.relation_kind(None, "s", "t").unwrap().as_deref(),
            Some("view")
        );
    }

    #[test]
    fn incremental_strategies() {
        let db = Db::new(warehouse::duckdb::Connection::open_in_memory().unwrap());
        let rel = Relation::new("memory", "main", "inc");
        let c = cfg(json!({"materialized": "incremental", "unique_key": "id"}));
        incremental(&db, &rel, "select 1 as id, 'a' as v", &c, false).unwrap();
        incremental(
            &db,
            &rel,
            "select 1 as id, 'b' as v union all select 2, 'c'",
            &c,
            false,
        )
        .unwrap();
        let r = db.query("select id, v from inc order by id").unwrap();
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.rows[0][1], minijinja::Value::from("b"));
        // append_new_columns
        let c2 =
            cfg(json!({"materialized": "incremental", "on_schema_change": "append_new_columns"}));
        incremental(
            &db,
            &rel,
            "select 3 as id, 'd' as v, 1 as extra",
            &c2,
            false,
        )
        .unwrap();
        assert_eq!(db.columns(&rel).unwrap().len(), 3);
        let fail = cfg(json!({"materialized": "incremental", "on_schema_change": "fail"}));
        assert!(incremental(&db, &rel, "select 4 as id", &fail, false).is_err());
        // full refresh rebuilds
        incremental(&db, &rel, "select 9 as id", &c, true).unwrap();
        assert_eq!(db.query("select * from inc").unwrap().rows.len(), 1);
    }

    #[test]
    fn merge_updates_in_place_and_inserts() {
        let db = Db::new(warehouse::duckdb::Connection::open_in_memory().unwrap());
        let rel = Relation::new("memory", "main", "m");
        let c = cfg(
            json!({"materialized": "incremental", "incremental_strategy": "merge",
            "unique_key": "id", "merge_update_columns": ["v"]}),
        );
        incremental(&db, &rel, "select 1 as id, 'a' as v, 10 as n", &c, false).unwrap();
        let out = incremental(
            &db,
            &rel,
            "select 1 as id, 'b' as v, 11 as n union all select 2, 'c', 20",
            &c,
            false,
        )
        .unwrap();
        assert!(out.run_sql.contains("MERGE INTO"), "{}", out.run_sql);
        let r = db.query("select id, v, n from m order by id").unwrap();
        assert_eq!(r.rows.len(), 2);
        // v updated, n left as it was (not in merge_update_columns)
        assert_eq!(r.rows[0][1], minijinja::Value::from("b"));
        assert_eq!(r.rows[0][2], minijinja::Value::from(10));
        assert_eq!(r.rows[1][2], minijinja::Value::from(20));
        // a bad config fails the model and leaves the table as it was
        let bad = cfg(
            json!({"materialized": "incremental", "incremental_strategy": "merge",
            "unique_key": "id", "merge_exclude_columns": "n"}),
        );
        let e = incremental(&db, &rel, "select 3 as id, 'd' as v, 1 as n", &bad, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("merge_exclude_columns must be a list"), "{e}");
        assert_eq!(db.query("select * from m").unwrap().rows.len(), 2);
    }

    /// Verified against dbt-duckdb 1.9 on the same models (parquet by
    /// default, csv with a delimiter, json by location, partitions, empty
    /// results): equal views and files.
    #[test]
    fn external_writes_files_and_a_view() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let db = Db::new(warehouse::duckdb::Connection::open_in_memory().unwrap());
        let rel = |n: &str| Relation::new("memory", "main", n);
        let rows = "select range as id, 'n' || range as name from range(3)";
        external(&db, &rel("p"), rows, &Config::new(), &root).unwrap();
        assert!(dir.path().join("p.parquet").exists());
        let c = cfg(json!({"format": "csv", "delimiter": "|"}));
        let o = external(&db, &rel("c"), rows, &c, &root).unwrap();
        assert_eq!(o.message, "OK");
        let text = std::fs::read_to_string(dir.path().join("c.csv")).unwrap();
        assert!(text.starts_with("id|name\n0|n0\n"), "{text}");
        let loc = format!("{root}/x.json");
        external(&db, &rel("j"), rows, &cfg(json!({"location": loc})), &root).unwrap();
        assert!(dir.path().join("x.json").exists());
        external(
            &db,
            &rel("e"),
            "select 1 as id where false",
            &Config::new(),
            &root,
        )
        .unwrap();
        let r = db
            .query("select (select count(*) from p), (select count(*) from c), (select sum(id) from j), (select count(*) from e)")
            .unwrap();
        assert_eq!(
            r.rows[0],
            vec![
                minijinja::Value::from(3),
                minijinja::Value::from(3),
                minijinja::Value::from(3),
                minijinja::Value::from(0)
            ]
        );
        assert_eq!(
            db.relation_kind(None, "main", "p").unwrap().as_deref(),
            Some("view")
        );
        let e = external(&db, &rel("b"), rows, &cfg(json!({"format": "xlsx"})), &root).unwrap_err();
        assert!(e.to_string().contains("Invalid format: xlsx"), "{e}");
    }

    /// What each materialization asks of the database, with no database:
    /// the `Recording` adapter answers as each test says the database is,
    /// and keeps every call.
    mod recorded {
        use super::*;
        use crate::database::{Call, Recording};

        fn orders() -> Relation {
            Relation::new("d", "s", "orders")
        }

        fn holding(kind: &str) -> Recording {
            Recording::new().with_relation(orders(), kind, &[("id", "INTEGER"), ("v", "VARCHAR")])
        }

        #[test]
        fn a_view_over_a_table_drops_the_table_in_the_same_transaction() {
            let db = holding("table");
            let out = view(&db, &orders(), "select 1 as id\n", &Config::new()).unwrap();
            let create = "create or replace view \"d\".\"s\".\"orders\" as (\nselect 1 as id\n);";
            assert_eq!(out.run_sql, create);
            assert_eq!(
                db.calls().last(),
                Some(&Call::Transaction(vec![
                    "DROP TABLE IF EXISTS \"d\".\"s\".\"orders\"".into(),
                    create.into(),
                ]))
            );
        }

        #[test]
        fn a_table_is_built_aside_and_swapped_in_with_its_schema_created() {
            let db = Recording::new();
            let c = cfg(json!({"sql_header": "set threads = 1;"}));
            table(&db, &orders(), "select 1 as id", &c).unwrap();
            assert!(db.calls().contains(&Call::HasSchema("d.s".into())));
            assert_eq!(
                db.statements(),
                [
                    "BEGIN TRANSACTION",
                    "CREATE SCHEMA IF NOT EXISTS \"d\".\"s\"",
                    "DROP TABLE IF EXISTS \"d\".\"s\".\"orders__dbt_tmp\"",
                    "set threads = 1;\ncreate table \"d\".\"s\".\"orders__dbt_tmp\" as (\nselect 1 as id\n);",
                    "ALTER TABLE \"d\".\"s\".\"orders__dbt_tmp\" RENAME TO \"orders\"",
                    "COMMIT",
                ]
            );
        }

        #[test]
        fn an_incremental_run_adds_columns_then_deletes_and_inserts_by_key() {
            let db = holding("table").with_relation(
                Relation::new("temp", "main", "orders__dbt_tmp"),
                "table",
                &[("id", "INTEGER"), ("v", "VARCHAR"), ("w", "DATE")],
            );
            let c = cfg(json!({
                "materialized": "incremental",
                "unique_key": "id",
                "on_schema_change": "append_new_columns",
            }));
            let out = incremental(&db, &orders(), "select 1 as id", &c, false).unwrap();
            let o = "\"d\".\"s\".\"orders\"";
            let want = [
                format!("ALTER TABLE {o} ADD COLUMN \"w\" DATE"),
                format!("DELETE FROM {o} USING \"orders__dbt_tmp\" WHERE \"orders\".\"id\" = \"orders__dbt_tmp\".\"id\""),
                format!("INSERT INTO {o} (\"id\", \"v\", \"w\") SELECT \"id\", \"v\", \"w\" FROM \"orders__dbt_tmp\""),
            ];
            assert_eq!(out.run_sql, want.join(";\n") + ";");
            let calls = db.calls();
            assert!(
                calls.contains(&Call::Transaction(want.to_vec())),
                "{calls:?}"
            );
            assert_eq!(
                calls.last(),
                Some(&Call::Execute(
                    "DROP TABLE IF EXISTS temp.main.\"orders__dbt_tmp\"".into()
                ))
            );
            // a full refresh builds it as a table
            let db = holding("table");
            incremental(&db, &orders(), "select 1 as id", &c, true).unwrap();
            assert!(db.statements().iter().any(|s| s.contains("RENAME TO")));
        }

        #[test]
        fn a_refused_statement_is_the_nodes_error_and_the_temp_table_still_goes() {
            let db = holding("table")
                .with_relation(
                    Relation::new("temp", "main", "orders__dbt_tmp"),
                    "table",
                    &[("id", "INTEGER"), ("v", "VARCHAR")],
                )
                .failing("INSERT INTO", "Constraint Error: duplicate key \"1\"");
            let c = cfg(json!({"materialized": "incremental"}));
            let e = incremental(&db, &orders(), "select 1 as id", &c, false).unwrap_err();
            assert!(matches!(e, Error::Refused(_)), "{e:?}");
            assert_eq!(e.to_string(), "Constraint Error: duplicate key \"1\"");
            assert!(
                matches!(db.calls().last(), Some(Call::Execute(s)) if s.starts_with("DROP TABLE IF EXISTS temp.main."))
            );
        }

        #[test]
        fn on_schema_change_fail_names_the_columns_and_runs_nothing() {
            let db = holding("table").with_relation(
                Relation::new("temp", "main", "orders__dbt_tmp"),
                "table",
                &[("id", "INTEGER"), ("w", "DATE")],
            );
            let c = cfg(json!({"materialized": "incremental", "on_schema_change": "fail"}));
            let e = incremental(&db, &orders(), "select 1 as id", &c, false).unwrap_err();
            assert!(
                e.to_string()
                    .contains("new columns: [\"w\"], missing columns: [\"v\"]"),
                "{e}"
            );
            assert!(!db.calls().iter().any(|c| matches!(c, Call::Transaction(_))));
        }
    }
}
