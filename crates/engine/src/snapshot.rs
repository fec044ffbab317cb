//! Snapshots (<https://docs.getdbt.com/docs/build/snapshots>): type-2
//! history tables kept by the `timestamp` or `check` strategy (or a custom
//! one: a `snapshot_<name>_strategy` macro), defined as
//! `{% snapshot %}` blocks in snapshot-paths or in YAML (`relation:`, dbt 1.9).
//!
//! The SQL follows dbt-core 1.10's snapshot macros and dbt-duckdb 1.9's
//! `duckdb__snapshot_merge_sql` (an UPDATE plus an INSERT: the DuckDB we link
//! has no MERGE), kept as a Jinja file (`sql/snapshot.sql`) close to dbt's
//! text so the two can be compared line by line. The strategy itself (what
//! counts as a change, the scd id, the hard-delete mode) is decided here.
//! Results equal dbt's row for row, including `dbt_scd_id` hashes for the
//! timestamp strategy; columns holding the snapshot time differ by when
//! the run happened, as they do between two dbt runs.

use std::sync::OnceLock;

use minijinja::{Environment, Value};
use serde_json::Value as Json;

use crate::config::{Config, ConfigExt};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::materialize::Outcome;
use crate::relation::{quote, Relation};

const TEMPLATE: &str = include_str!("sql/snapshot.sql");

/// dbt-duckdb's `snapshot_get_time()`.
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
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(start) = crate::jinja::find_tag(text, pos, "snapshot") {
        let Some(open_end) = text[start..].find("%}").map(|i| start + i + 2) else {
            return Err("unclosed {% snapshot %} tag".into());
        };
        let header = &text[start + 2..open_end - 2];
        let name: String = header
            .trim_matches(['-', '+', ' ', '\t', '\n', '\r'])
            .trim_start_matches("snapshot")
            .trim()
            .trim_end_matches(['-', '+'])
            .trim()
            .to_string();
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            let line = text[..start].matches('\n').count() + 1;
            return Err(format!(
                "line {line}: a snapshot block needs a name: {{% snapshot name %}}"
            ));
        }
        let Some(end_tag) = crate::jinja::find_tag(text, open_end, "endsnapshot") else {
            let line = text[..start].matches('\n').count() + 1;
            return Err(format!(
                "line {line}: snapshot {name} has no {{% endsnapshot %}}"
            ));
        };
        let Some(close) = text[end_tag..].find("%}") else {
            return Err(format!("snapshot {name}: unclosed endsnapshot tag"));
        };
        // keep `{%-`/`-%}` trimming of the surrounding tags
        let mut body = &text[open_end..end_tag];
        if text[..open_end].ends_with("-%}") {
            body = body.trim_start();
        }
        if text[end_tag..].starts_with("{%-") {
            body = body.trim_end();
        }
        let skipped = text[..open_end].matches('\n').count();
        out.push(Block {
            name,
            body: format!("{}{}", "\n".repeat(skipped), body),
        });
        pos = end_tag + close + 2;
    }
    Ok(out)
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

/// dbt's `get_hard_deletes_behavior`.
pub fn hard_deletes(cfg: &Config) -> Result<&'static str> {
    let legacy = cfg.get("invalidate_hard_deletes").filter(|v| !v.is_null());
    let mode = cfg.get("hard_deletes").filter(|v| !v.is_null());
    if legacy.is_some() && mode.is_some() {
        return Err(Error::Project(
            "You cannot set both the invalidate_hard_deletes and hard_deletes config properties on the same snapshot.".into(),
        ));
    }
    let truthy = |v: &Json| match v {
        Json::Bool(b) => *b,
        Json::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    match (legacy, mode.and_then(|m| m.as_str())) {
        (Some(v), _) if truthy(v) => Ok("invalidate"),
        (_, Some("invalidate")) => Ok("invalidate"),
        (_, Some("new_record")) => Ok("new_record"),
        (_, None | Some("ignore")) => Ok("ignore"),
        (_, Some(other)) => Err(Error::Project(format!(
            "Invalid setting for property hard_deletes: {other:?} (ignore, invalidate, new_record)"
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

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        env.add_filter("quote", |s: String| quote(&s));
        // the template is ours and tested; a broken one fails every snapshot test
        if let Err(e) = env.add_template("snapshot.sql", TEMPLATE) {
            tracing::error!("snapshot template: {e}");
        }
        env
    })
}

/// Call one macro of the snapshot template.
fn call(name: &str, ctx: &Value, args: &[Value]) -> Result<String> {
    let bad = |e: minijinja::Error| Error::Internal(format!("snapshot template {name}: {e:#}"));
    let t = env().get_template("snapshot.sql").map_err(bad)?;
    let captured = t.render_captured(ctx).map_err(bad)?;
    captured.state().call_macro(name, args).map_err(bad)
}

/// Column names of a query's result, without running it.
fn query_columns(db: &Db, sql: &str) -> Result<Vec<String>> {
    Ok(db
        .query(&format!(
            "select * from (\n{sql}\n) as __dbt_sbq where false limit 0"
        ))?
        .columns)
}

/// The strategy as dbt's `snapshot_<name>_strategy` macros return it.
#[derive(Debug, serde::Serialize)]
struct Strategy {
    unique_key: Json,
    updated_at: String,
    row_changed: String,
    scd_id: String,
    hard_deletes: &'static str,
}

/// A custom strategy macro's result (`unique_key`, `updated_at`,
/// `row_changed`, `scd_id`, and `hard_deletes` or `invalidate_hard_deletes`)
/// as the strategy the snapshot SQL uses.
fn custom_strategy(r: &Json) -> Result<Strategy> {
    let text = |k: &str| -> Result<String> {
        match r.get(k) {
            Some(Json::String(s)) => Ok(s.clone()),
            Some(v) if !v.is_null() => Ok(v.to_string()),
            _ => Err(Error::Project(format!(
                "the snapshot strategy macro returned no {k:?}"
            ))),
        }
    };
    let hard = match r.get("hard_deletes").and_then(|v| v.as_str()) {
        Some("invalidate") => "invalidate",
        Some("new_record") => "new_record",
        _ if r.get("invalidate_hard_deletes").and_then(|v| v.as_bool()) == Some(true) => {
            "invalidate"
        }
        _ => "ignore",
    };
    Ok(Strategy {
        unique_key: r.get("unique_key").cloned().unwrap_or(Json::Null),
        updated_at: text("updated_at")?,
        row_changed: text("row_changed")?,
        scd_id: text("scd_id")?,
        hard_deletes: hard,
    })
}

fn strategy(
    db: &Db,
    cfg: &Config,
    cols: &MetaColumns,
    sql: &str,
    target: Option<&Relation>,
    custom: Option<&Json>,
) -> Result<Strategy> {
    if let Some(r) = custom {
        return custom_strategy(r);
    }
    let unique_key = cfg.get("unique_key").cloned().unwrap_or(Json::Null);
    let keys: Vec<String> = cfg.unique_key();
    let hard = hard_deletes(cfg)?;
    let (updated_at, row_changed) = match cfg.str_of("strategy").unwrap_or_default() {
        "timestamp" => {
            let u = cfg.str_of("updated_at").unwrap_or_default().to_string();
            let rc = format!(
                "(snapshotted_data.{} < source_data.{u})",
                cols.dbt_valid_from
            );
            (u, rc)
        }
        "check" => {
            let u = cfg
                .str_of("updated_at")
                .map(String::from)
                .unwrap_or_else(|| NOW.to_string());
            let rc = match target {
                None => "()".to_string(),
                Some(t) => {
                    let query_cols = match cfg.get("check_cols") {
                        Some(Json::String(s)) if s == "all" => query_columns(db, sql)?,
                        Some(Json::Array(a)) if !a.is_empty() => {
                            let list: Vec<String> = a
                                .iter()
                                .map(|v| {
                                    v.as_str()
                                        .map(String::from)
                                        .unwrap_or_else(|| v.to_string())
                                })
                                .collect();
                            query_columns(
                                db,
                                &format!("select {} from (\n{sql}\n) subq", list.join(", ")),
                            )?
                        }
                        other => {
                            return Err(Error::Project(format!(
                                "Invalid value for 'check_cols': {}",
                                other.cloned().unwrap_or(Json::Null)
                            )))
                        }
                    };
                    let existing: Vec<String> =
                        db.columns(t)?.into_iter().map(|(n, _)| n).collect();
                    let mut added = false;
                    let mut inter = Vec::new();
                    for c in query_cols {
                        if existing.contains(&c) {
                            inter.push(quote(&c));
                        } else {
                            added = true;
                        }
                    }
                    if added {
                        "(TRUE)".to_string()
                    } else {
                        let parts: Vec<String> = inter
                            .iter()
                            .map(|c| {
                                format!(
                                    "snapshotted_data.{c} != source_data.{c}\n        or\n        (\n            ((snapshotted_data.{c} is null) and not (source_data.{c} is null))\n            or\n            ((not snapshotted_data.{c} is null) and (source_data.{c} is null))\n        )"
                                )
                            })
                            .collect();
                        format!("({})", parts.join(" or "))
                    }
                }
            };
            (u, rc)
        }
        other => {
            return Err(Error::Project(format!(
                "snapshot strategy {other:?} is not supported (timestamp, check)"
            )))
        }
    };
    let mut scd_args: Vec<Value> = keys.iter().map(|k| Value::from(k.clone())).collect();
    scd_args.push(Value::from(updated_at.clone()));
    let ctx = minijinja::context! {};
    let scd_id = call("hash_args", &ctx, &[Value::from(scd_args)])?;
    Ok(Strategy {
        unique_key,
        updated_at,
        row_changed,
        scd_id,
        hard_deletes: hard,
    })
}

/// Build or update a snapshot table from its compiled SELECT. `custom`
/// calls a custom strategy's macro with whether the table exists and
/// returns its result (see [`strategy_macro`]).
pub fn run(
    db: &Db,
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
    let cfg_v = Value::from_serialize(cfg);
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
    let header = cfg
        .str_of("sql_header")
        .map(|h| format!("{h}\n"))
        .unwrap_or_default();
    if !exists {
        let ctx =
            minijinja::context! { c => Value::from_serialize(&cols), cfg => cfg_v, now => NOW };
        let build = call(
            "build_snapshot_table",
            &ctx,
            &[Value::from_serialize(&s), Value::from(sql)],
        )?;
        let create = format!(
            "{header}\n    create  table\n      {}\n  \n    as (\n      {build}\n    );",
            target.render()
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
    let (source_cols, snapshotted_cols) = if s.hard_deletes == "new_record" {
        (
            query_columns(db, sql)?,
            db.columns(&target)?
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>(),
        )
    } else {
        (vec![], vec![])
    };
    let ctx = minijinja::context! {
        c => Value::from_serialize(&cols), cfg => cfg_v, now => NOW,
        source_cols => source_cols, snapshotted_cols => snapshotted_cols,
    };
    let staging_sql = call(
        "snapshot_staging_table",
        &ctx,
        &[
            Value::from_serialize(&s),
            Value::from(sql),
            Value::from(target.render()),
        ],
    )?;
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
        let mut remove: Vec<String> = vec![
            "dbt_change_type".into(),
            "DBT_CHANGE_TYPE".into(),
            "dbt_unique_key".into(),
            "DBT_UNIQUE_KEY".into(),
        ];
        if matches!(s.unique_key, Json::Array(_)) {
            for i in 1..=cfg.unique_key().len() {
                remove.push(format!("dbt_unique_key_{i}"));
                remove.push(format!("DBT_UNIQUE_KEY_{i}"));
            }
        }
        let staging_cols = db.columns(&staging)?;
        let target_cols: Vec<String> = db.columns(&target)?.into_iter().map(|(n, _)| n).collect();
        let mut stmts = Vec::new();
        for (name, ty) in &staging_cols {
            if !remove.contains(name) && !target_cols.contains(name) {
                stmts.push(format!(
                    "alter table {} add column {} {ty};",
                    target.render(),
                    quote(name)
                ));
            }
        }
        let insert_cols: Vec<Value> = staging_cols
            .iter()
            .filter(|(n, _)| !remove.contains(n))
            .map(|(n, _)| Value::from(quote(n)))
            .collect();
        let merge = call(
            "snapshot_merge_sql",
            &ctx,
            &[
                Value::from(target.render()),
                Value::from(quote(&staging_name)),
                Value::from(insert_cols),
            ],
        )?;
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
            unique_id: unique_id.clone(),
            resource_type: crate::manifest::ResourceType::Snapshot,
            name: name.clone(),
            package_name: project.name.clone(),
            original_file_path: ofp.clone(),
            path,
            fqn,
            checksum: {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(raw.as_bytes()))
            },
            raw_code: raw,
            config: cfg,
            description: p.map(|p| p.description.clone()).unwrap_or_default(),
            columns: p.map(|p| p.columns.clone()).unwrap_or_default(),
            patch_path: p.map(|p| format!("{}://{}", project.name, p.file)),
            refs: vec![],
            sources: vec![],
            depends_on: vec![],
            database: target.database.clone(),
            schema: target.schema.clone(),
            alias: name.clone(),
            quoting: project.quoting,
            version: None,
            macros: vec![],
            time_spine: None,
        };
        let ctx = crate::compile::parse_ctx(&node, resolver.clone(), info.full_refresh);
        if let Err(e) = crate::jinja::parsing(|| crate::jinja::render(env, &unique_id, ctx.clone()))
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
        assert_eq!(hard_deletes(&cfg(json!({}))).unwrap(), "ignore");
        assert_eq!(
            hard_deletes(&cfg(json!({"invalidate_hard_deletes": true}))).unwrap(),
            "invalidate"
        );
        assert_eq!(
            hard_deletes(&cfg(json!({"hard_deletes": "new_record"}))).unwrap(),
            "new_record"
        );
        assert!(hard_deletes(&cfg(json!({"hard_deletes": "x"}))).is_err());
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
}
