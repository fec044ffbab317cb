//! The `merge` incremental strategy as one DuckDB `MERGE INTO` statement,
//! configured as dbt-duckdb documents it
//! (<https://docs.getdbt.com/reference/resource-configs/duckdb-configs>):
//! `unique_key` (or `merge_on_using_columns`) joins the new rows to the
//! table; matched rows are updated (all columns by name, or only
//! `merge_update_columns`, or all but `merge_exclude_columns`, with
//! `merge_update_set_expressions` overriding single columns) and the rest are
//! inserted by name. `merge_update_condition` / `merge_insert_condition`
//! guard the two actions, and `merge_clauses` replaces both with a list of
//! `when_matched` / `when_not_matched` actions of the user's own.
//!
//! One statement rather than the delete-then-insert pair it replaces: rows
//! that match are updated in place, so a table's columns that the model does
//! not select (after `on_schema_change: append_new_columns`, say) keep their
//! values, and the work is one pass over the target.
//!
//! The text is built here, not in Jinja: it is configuration turned into SQL
//! with validation, and every config error of the model is reported at once,
//! as dbt-duckdb does ("MERGE configuration errors:" and one line each).

use crate::config::Config;
use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// How the new rows (`SOURCE`) and the table (`DEST`) are named inside the
/// statement; predicates and conditions written for dbt name them so.
const SOURCE: &str = "DBT_INTERNAL_SOURCE";
const DEST: &str = "DBT_INTERNAL_DEST";

/// The basic configs and the JSON shape each must have. With
/// `merge_clauses` only the join columns and `RETURNING` still apply.
const BASIC: [(&str, Shape); 7] = [
    ("merge_update_condition", Shape::Text),
    ("merge_insert_condition", Shape::Text),
    ("merge_on_using_columns", Shape::List),
    ("merge_update_columns", Shape::List),
    ("merge_update_set_expressions", Shape::Map),
    ("merge_exclude_columns", Shape::List),
    ("merge_returning_columns", Shape::List),
];

#[derive(Clone, Copy)]
enum Shape {
    Text,
    List,
    Map,
}

/// Everything the statement needs besides the model's config.
pub struct MergeInput<'a> {
    /// The target, rendered (`"db"."schema"."t"`).
    pub target: &'a str,
    /// The relation holding the new rows, rendered.
    pub source: &'a str,
    pub unique_key: &'a [String],
    /// `incremental_predicates`, each added to the join condition.
    pub predicates: &'a [String],
    /// The target's columns after schema changes (the names only).
    pub dest_columns: &'a [String],
}

/// The `MERGE INTO` statement for `config`, or every configuration error.
pub fn merge_sql(config: &Config, input: &MergeInput) -> Result<String> {
    let mut errors = Vec::new();
    for (name, shape) in BASIC {
        check_shape(config.get(name), name, shape, &mut errors);
    }
    let clauses = config.get("merge_clauses").filter(|v| !v.is_null());
    if let Some(c) = clauses {
        check_clauses(c, config, &mut errors);
    }
    if !errors.is_empty() {
        return Err(Error::Project(format!(
            "MERGE configuration errors:\n{}",
            errors.join("\n")
        )));
    }
    let text = |k: &str| config.get(k).and_then(Value::as_str).map(String::from);
    let list = |k: &str| strings(config.get(k));
    let empty = Map::new();
    let set_expressions = config
        .get("merge_update_set_expressions")
        .and_then(Value::as_object)
        .unwrap_or(&empty);

    let mut out = format!(
        "MERGE INTO {} AS {DEST}\n    USING {} AS {SOURCE}\n    {}",
        input.target,
        input.source,
        join_clause(
            input.unique_key,
            &list("merge_on_using_columns"),
            input.predicates
        )
    );
    match clauses {
        Some(c) => {
            for clause in clause_list(c, "when_matched") {
                out.push_str(&when_matched(clause, input.dest_columns)?);
            }
            for clause in clause_list(c, "when_not_matched") {
                out.push_str(&when_not_matched(clause)?);
            }
        }
        None => {
            let include = list("merge_update_columns");
            let exclude = list("merge_exclude_columns");
            let update_condition = text("merge_update_condition").map(Value::String);
            let explicit =
                !include.is_empty() || !exclude.is_empty() || !set_expressions.is_empty();
            let mut matched = Map::new();
            matched.insert("action".into(), "update".into());
            if let Some(c) = update_condition {
                matched.insert("condition".into(), c);
            }
            if explicit {
                matched.insert("mode".into(), "explicit".into());
                let mut update = Map::new();
                update.insert("include".into(), include.into());
                update.insert("exclude".into(), exclude.into());
                update.insert(
                    "set_expressions".into(),
                    Value::Object(set_expressions.clone()),
                );
                matched.insert("update".into(), Value::Object(update));
            } else {
                matched.insert("mode".into(), "by_name".into());
            }
            out.push_str(&when_matched(&Value::Object(matched), input.dest_columns)?);
            let mut insert = Map::new();
            insert.insert("action".into(), "insert".into());
            insert.insert("mode".into(), "by_name".into());
            if let Some(c) = text("merge_insert_condition") {
                insert.insert("condition".into(), c.into());
            }
            out.push_str(&when_not_matched(&Value::Object(insert))?);
        }
    }
    let returning = list("merge_returning_columns");
    if !returning.is_empty() {
        out.push_str(&format!("\n    RETURNING {}", returning.join(", ")));
    }
    Ok(out)
}

/// `ON (key match) AND (predicate)…`, or `USING (cols)` when the user names
/// the join columns; no key at all matches nothing, so every row is new.
fn join_clause(keys: &[String], using: &[String], predicates: &[String]) -> String {
    if !using.is_empty() {
        let mut s = format!("USING ({})", using.join(", "));
        if !predicates.is_empty() {
            s.push_str(&format!(" ON ({})", predicates.join(") AND (")));
        }
        return s;
    }
    let mut conds: Vec<String> = keys
        .iter()
        .map(|k| format!("{SOURCE}.{k} = {DEST}.{k}", k = k.trim()))
        .collect();
    if conds.is_empty() {
        conds.push("FALSE".into());
    }
    conds.extend(predicates.iter().cloned());
    format!("ON ({})", conds.join(") AND ("))
}

/// ` AND cond` for a clause's `condition`, a text or a list of texts.
fn condition(clause: &Value) -> String {
    match clause.get("condition") {
        Some(Value::String(s)) if !s.is_empty() => format!(" AND {s}"),
        Some(Value::Array(a)) if !a.is_empty() => {
            format!(
                " AND ({})",
                strings(Some(&Value::Array(a.clone()))).join(") AND (")
            )
        }
        _ => String::new(),
    }
}

fn when_matched(clause: &Value, dest_columns: &[String]) -> Result<String> {
    let action = clause.get("action").and_then(Value::as_str).unwrap_or("");
    let body = match action {
        "update" => match clause.get("mode").and_then(Value::as_str).unwrap_or("") {
            "by_name" => "UPDATE BY NAME".to_string(),
            "by_position" => "UPDATE BY POSITION".to_string(),
            "star" => "UPDATE SET *".to_string(),
            "explicit" => {
                let spec = clause.get("update").cloned().unwrap_or(Value::Null);
                explicit_update(&spec, dest_columns)
            }
            other => return Err(bad_clause("when_matched", "mode", other)),
        },
        "delete" | "do_nothing" | "error" => simple_action(clause, action),
        other => return Err(bad_clause("when_matched", "action", other)),
    };
    Ok(format!(
        "\n    WHEN MATCHED{} THEN {body}",
        condition(clause)
    ))
}

fn when_not_matched(clause: &Value) -> Result<String> {
    let action = clause.get("action").and_then(Value::as_str).unwrap_or("");
    let by = match clause.get("by").and_then(Value::as_str) {
        Some(b) => format!(" BY {}", b.to_uppercase()),
        None => String::new(),
    };
    let body = match action {
        "insert" => match clause.get("mode").and_then(Value::as_str).unwrap_or("") {
            "by_name" => "INSERT BY NAME".to_string(),
            "by_position" => "INSERT BY POSITION".to_string(),
            "star" => "INSERT *".to_string(),
            "explicit" => {
                let spec = clause.get("insert");
                let cols = strings(spec.and_then(|s| s.get("columns")));
                let vals = strings(spec.and_then(|s| s.get("values")));
                format!("INSERT ({}) VALUES ({})", cols.join(", "), vals.join(", "))
            }
            other => return Err(bad_clause("when_not_matched", "mode", other)),
        },
        "update" => {
            let sets = assignments(clause.get("set_expressions"));
            format!("UPDATE SET {}", sets.join(", "))
        }
        "delete" | "do_nothing" | "error" => simple_action(clause, action),
        other => return Err(bad_clause("when_not_matched", "action", other)),
    };
    Ok(format!(
        "\n    WHEN NOT MATCHED{by}{} THEN {body}",
        condition(clause)
    ))
}

/// `DELETE`, `DO NOTHING` or `ERROR ['message']`.
fn simple_action(clause: &Value, action: &str) -> String {
    match action {
        "delete" => "DELETE".into(),
        "do_nothing" => "DO NOTHING".into(),
        _ => match clause.get("error_message").and_then(Value::as_str) {
            Some(m) if !m.is_empty() => format!("ERROR '{}'", m.replace('\'', "''")),
            _ => "ERROR".into(),
        },
    }
}

/// `UPDATE SET` for an explicit clause: the set expressions first, then each
/// updated column from the new rows. Which columns: `include` as written, or
/// the target's columns less `exclude` (compared without case), or all of
/// them; a column with a set expression is not assigned twice.
fn explicit_update(spec: &Value, dest_columns: &[String]) -> String {
    let include = strings(spec.get("include"));
    let exclude: Vec<String> = strings(spec.get("exclude"))
        .iter()
        .map(|c| c.to_lowercase())
        .collect();
    let columns: Vec<String> = if !include.is_empty() {
        include
    } else {
        dest_columns
            .iter()
            .filter(|c| !exclude.contains(&c.to_lowercase()))
            .map(|c| crate::relation::quote(c))
            .collect()
    };
    let sets = spec.get("set_expressions");
    let overridden = |c: &str| {
        let bare = c.replace(['"', '\''], "");
        sets.and_then(Value::as_object)
            .is_some_and(|m| m.contains_key(&bare))
    };
    let mut parts = assignments(sets);
    parts.extend(
        columns
            .iter()
            .filter(|c| !overridden(c))
            .map(|c| format!("{c} = {SOURCE}.{c}")),
    );
    format!("UPDATE SET {}", parts.join(", "))
}

/// `col = expr` for each entry of a set-expressions map, in its order.
fn assignments(map: Option<&Value>) -> Vec<String> {
    map.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} = {}", v.as_str().map_or(v.to_string(), String::from)))
                .collect()
        })
        .unwrap_or_default()
}

fn bad_clause(kind: &str, field: &str, value: &str) -> Error {
    Error::Project(format!(
        "MERGE configuration errors:\nmerge_clauses.{kind}: unknown {field} {value:?}"
    ))
}

/// A list config as texts (a single text counts as a one-item list).
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map_or(x.to_string(), String::from))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn clause_list<'a>(clauses: &'a Value, key: &str) -> &'a [Value] {
    clauses
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn check_shape(v: Option<&Value>, name: &str, shape: Shape, errors: &mut Vec<String>) {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return;
    };
    match shape {
        Shape::Text if !v.is_string() => {
            errors.push(format!("{name} must be a string, found: {v}"))
        }
        Shape::Map if !v.is_object() => {
            errors.push(format!("{name} must be a dictionary, found: {v}"))
        }
        Shape::List => match v.as_array() {
            None => errors.push(format!("{name} must be a list")),
            Some(items) => {
                for item in items.iter().filter(|i| !i.is_string()) {
                    errors.push(format!(
                        "{name} must contain only string values, found: {item}"
                    ));
                }
            }
        },
        _ => {}
    }
}

/// `merge_clauses` must be a map with a non-empty list of clause maps under
/// `when_matched` and/or `when_not_matched`, and leaves the basic configs
/// (other than the join columns and `RETURNING`) unset.
fn check_clauses(clauses: &Value, config: &Config, errors: &mut Vec<String>) {
    let Some(map) = clauses.as_object() else {
        errors.push(format!(
            "merge_clauses must be a dictionary, found: {clauses}"
        ));
        return;
    };
    let kinds = ["when_matched", "when_not_matched"];
    if !kinds.iter().any(|k| map.contains_key(*k)) {
        errors.push(
            "merge_clauses must contain at least one of 'when_matched' or 'when_not_matched' keys"
                .into(),
        );
    }
    for kind in kinds {
        let Some(v) = map.get(kind) else { continue };
        match v.as_array() {
            None => errors.push(format!("merge_clauses.{kind} must be a list")),
            Some(a) if a.is_empty() => errors.push(format!(
                "merge_clauses.{kind} must contain at least one element"
            )),
            Some(a) => {
                for c in a.iter().filter(|c| !c.is_object()) {
                    errors.push(format!(
                        "merge_clauses.{kind} elements must be dictionaries, found: {c}"
                    ));
                }
            }
        }
    }
    let ignored: Vec<&str> = BASIC
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !matches!(*n, "merge_on_using_columns" | "merge_returning_columns"))
        .filter(|n| match config.get(*n) {
            None | Some(Value::Null) => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(m)) => !m.is_empty(),
            Some(_) => true,
        })
        .collect();
    if !ignored.is_empty() {
        errors.push(format!(
            "When merge_clauses is specified, the following basic merge configurations will be ignored and should be removed: {}. Define your merge behavior within merge_clauses instead.",
            ignored.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sql(config: Value, keys: &[&str]) -> Result<String> {
        let config = config.as_object().cloned().unwrap_or_default();
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let cols = vec!["id".to_string(), "v".to_string(), "n".to_string()];
        merge_sql(
            &config,
            &MergeInput {
                target: "\"t\"",
                source: "\"t__dbt_tmp\"",
                unique_key: &keys,
                predicates: &[],
                dest_columns: &cols,
            },
        )
    }

    #[test]
    fn default_updates_and_inserts_by_name() {
        let s = sql(json!({}), &["id"]).unwrap();
        assert_eq!(
            s,
            "MERGE INTO \"t\" AS DBT_INTERNAL_DEST\n    USING \"t__dbt_tmp\" AS DBT_INTERNAL_SOURCE\n    ON (DBT_INTERNAL_SOURCE.id = DBT_INTERNAL_DEST.id)\n    WHEN MATCHED THEN UPDATE BY NAME\n    WHEN NOT MATCHED THEN INSERT BY NAME"
        );
        assert!(sql(json!({}), &[]).unwrap().contains("ON (FALSE)"));
    }

    #[test]
    fn explicit_columns_and_conditions() {
        let s = sql(json!({"merge_exclude_columns": ["N"], "merge_update_condition": "DBT_INTERNAL_DEST.v <> DBT_INTERNAL_SOURCE.v"}), &["id"]).unwrap();
        assert!(s.contains("WHEN MATCHED AND DBT_INTERNAL_DEST.v <> DBT_INTERNAL_SOURCE.v THEN UPDATE SET \"id\" = DBT_INTERNAL_SOURCE.\"id\", \"v\" = DBT_INTERNAL_SOURCE.\"v\"\n"), "{s}");
        let s = sql(json!({"merge_update_columns": ["v"], "merge_update_set_expressions": {"n": "DBT_INTERNAL_DEST.n + 1"}}), &["id"]).unwrap();
        assert!(
            s.contains("UPDATE SET n = DBT_INTERNAL_DEST.n + 1, v = DBT_INTERNAL_SOURCE.v"),
            "{s}"
        );
    }

    #[test]
    fn custom_clauses() {
        let s = sql(
            json!({"merge_clauses": {
                "when_matched": [{"action": "delete", "condition": ["DBT_INTERNAL_SOURCE.v is null"]}, {"action": "update", "mode": "star"}],
                "when_not_matched": [{"action": "insert", "mode": "explicit", "insert": {"columns": ["id"], "values": ["DBT_INTERNAL_SOURCE.id"]}}, {"by": "source", "action": "do_nothing"}]
            }, "merge_returning_columns": ["id"]}),
            &["id"],
        )
        .unwrap();
        assert!(s.contains("WHEN MATCHED AND (DBT_INTERNAL_SOURCE.v is null) THEN DELETE\n    WHEN MATCHED THEN UPDATE SET *"), "{s}");
        assert!(s.contains("WHEN NOT MATCHED THEN INSERT (id) VALUES (DBT_INTERNAL_SOURCE.id)\n    WHEN NOT MATCHED BY SOURCE THEN DO NOTHING\n    RETURNING id"), "{s}");
    }

    #[test]
    fn every_config_error_at_once() {
        let e = sql(
            json!({"merge_update_columns": "v", "merge_update_condition": 3, "merge_clauses": {"when_matched": []}}),
            &["id"],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("MERGE configuration errors:"), "{e}");
        assert!(e.contains("merge_update_columns must be a list"), "{e}");
        assert!(
            e.contains("merge_update_condition must be a string, found: 3"),
            "{e}"
        );
        assert!(
            e.contains("merge_clauses.when_matched must contain at least one element"),
            "{e}"
        );
        assert!(e.contains("following basic merge configurations will be ignored and should be removed: merge_update_condition, merge_update_columns"), "{e}");
    }
}
