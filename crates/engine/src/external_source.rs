//! dbt-duckdb's external sources: a source table whose `external_location`
//! names a file (or any table function) instead of a table in the
//! database. The location is a template over the source's own fields, so
//! it belongs with the parsed source (`properties`), not with the relation
//! type that later renders it: a relation then only carries the finished
//! string, and `relation` stays free of the properties and Python-formatting
//! layers.

use crate::extras::py_str;
use crate::properties::SourceTable;

/// Source configs that are dbt's own; every other key under a source's
/// `config:` reaches dbt-duckdb as its `config.extra`.
const SOURCE_CONFIG_KEYS: &[&str] = &[
    "enabled",
    "meta",
    "tags",
    "freshness",
    "loaded_at_field",
    "loaded_at_query",
    "event_time",
    "quoting",
    "docs",
];

/// dbt-duckdb's external source (`external_location` in a source table's
/// `meta` or `config`): the location formatted with the source's fields
/// (`name`, `identifier`, `schema`, `database`, `tags` and every meta/config
/// key) by `formatter` — `newstyle` (Python's `str.format`, the default),
/// `oldstyle` (`%(name)s`) or `template` (`$name`) — and single-quoted unless
/// it is a function call or already quoted, as
/// `DuckDBRelation.create_from_source` does. `None` without
/// `external_location`; an error names the source on a bad formatter or an
/// unknown field.
pub fn external_location(t: &SourceTable) -> std::result::Result<Option<String>, String> {
    use serde_json::Value as J;
    let mut fields = serde_json::Map::new();
    let config = &t.config;
    fields.insert("name".into(), J::from(t.name.as_str()));
    fields.insert("identifier".into(), J::from(t.identifier.as_str()));
    fields.insert("schema".into(), J::from(t.schema.as_str()));
    fields.insert(
        "database".into(),
        t.database.as_deref().map(J::from).unwrap_or(J::Null),
    );
    fields.insert(
        "tags".into(),
        J::Array(t.tags.iter().map(|t| J::from(t.as_str())).collect()),
    );
    fields.extend(t.meta.clone());
    if let Some(J::Object(m)) = config.get("meta") {
        fields.extend(m.clone());
    }
    for (k, v) in config {
        if !SOURCE_CONFIG_KEYS.contains(&k.as_str()) {
            fields.insert(k.clone(), v.clone());
        }
    }
    let Some(template) = fields.get("external_location") else {
        return Ok(None);
    };
    let template = match template {
        J::String(t) => t.clone(),
        other => other.to_string(),
    };
    let what = format!("source {}.{}: external_location", t.source_name, t.name);
    let value = |key: &str| -> std::result::Result<String, String> {
        match fields.get(key) {
            Some(v) => Ok(py_str(&minijinja::Value::from_serialize(v))),
            None => Err(format!(
                "{what} names {{{key}}}, which is not a field of the source (name, identifier, schema, database, tags or a meta/config key); for a literal brace use formatter: oldstyle"
            )),
        }
    };
    let formatter = fields
        .get("formatter")
        .and_then(|f| f.as_str())
        .unwrap_or("newstyle");
    let mut out = String::new();
    match formatter {
        "newstyle" => {
            let mut it = template.chars().peekable();
            while let Some(c) = it.next() {
                match c {
                    '{' if it.peek() == Some(&'{') => {
                        it.next();
                        out.push('{');
                    }
                    '}' if it.peek() == Some(&'}') => {
                        it.next();
                        out.push('}');
                    }
                    '{' => {
                        let mut key = String::new();
                        loop {
                            match it.next() {
                                Some('}') => break,
                                Some(ch) => key.push(ch),
                                None => return Err(format!("{what}: unclosed '{{' in {template:?}")),
                            }
                        }
                        out.push_str(&value(key.trim())?);
                    }
                    '}' => return Err(format!("{what}: single '}}' in {template:?}")),
                    c => out.push(c),
                }
            }
        }
        "oldstyle" => {
            let mut rest = template.as_str();
            while let Some(i) = rest.find('%') {
                out.push_str(&rest[..i]);
                let after = &rest[i + 1..];
                if let Some(r) = after.strip_prefix('%') {
                    out.push('%');
                    rest = r;
                } else if let Some(r) = after.strip_prefix('(') {
                    let close = r
                        .find(')')
                        .ok_or_else(|| format!("{what}: unclosed '%(' in {template:?}"))?;
                    let key = &r[..close];
                    let conv = r[close + 1..].chars().next();
                    if !matches!(conv, Some('s') | Some('r')) {
                        return Err(format!(
                            "{what}: only %(name)s conversions are supported, in {template:?}"
                        ));
                    }
                    out.push_str(&value(key)?);
                    rest = &r[close + 2..];
                } else {
                    return Err(format!(
                        "{what}: '%' must be '%%' or '%(name)s' with formatter oldstyle, in {template:?}"
                    ));
                }
            }
            out.push_str(rest);
        }
        "template" => {
            let mut rest = template.as_str();
            while let Some(i) = rest.find('$') {
                out.push_str(&rest[..i]);
                let after = &rest[i + 1..];
                if let Some(r) = after.strip_prefix('$') {
                    out.push('$');
                    rest = r;
                } else if let Some(r) = after.strip_prefix('{') {
                    let close = r
                        .find('}')
                        .ok_or_else(|| format!("{what}: unclosed '${{' in {template:?}"))?;
                    out.push_str(&value(&r[..close])?);
                    rest = &r[close + 1..];
                } else {
                    let n = after
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(after.len());
                    if n == 0 {
                        return Err(format!("{what}: invalid placeholder in {template:?}"));
                    }
                    out.push_str(&value(&after[..n])?);
                    rest = &after[n..];
                }
            }
            out.push_str(rest);
        }
        other => {
            return Err(format!(
                "{what}: formatter {other} not recognized. Must be one of 'newstyle', 'oldstyle', or 'template'."
            ))
        }
    }
    if !out.contains('(') && !out.starts_with('\'') {
        out = format!("'{out}'");
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relation::Relation;

    #[test]
    fn external_sources_format_like_dbt_duckdb() {
        let m = |j: serde_json::Value| j.as_object().unwrap().clone();
        let ext = |meta: serde_json::Value, config: serde_json::Value| {
            external_location(&SourceTable {
                source_name: "raw".into(),
                name: "orders".into(),
                identifier: "orders_tbl".into(),
                schema: "main".into(),
                tags: vec!["a".into()],
                meta: m(meta),
                config: m(config),
                ..Default::default()
            })
        };
        let none = serde_json::json!({});
        assert_eq!(ext(none.clone(), none.clone()), Ok(None));
        // newstyle (the default): fields, escaped braces; a path is quoted
        assert_eq!(
            ext(
                serde_json::json!({"external_location": "data/{name}_{identifier}.{{x}}.parquet"}),
                none.clone()
            ),
            Ok(Some("'data/orders_orders_tbl.{x}.parquet'".into()))
        );
        // a reader call is not quoted; config keys count as fields too
        assert_eq!(
            ext(
                none.clone(),
                serde_json::json!({"external_location": "read_csv('{dir}/{schema}.csv')", "dir": "in", "tags": ["t"]})
            ),
            Ok(Some("read_csv('in/main.csv')".into()))
        );
        // oldstyle keeps dict literals
        assert_eq!(
            ext(
                serde_json::json!({"external_location": "read_csv('%(name)s.csv', columns={'a': 'integer'}) -- 100%%", "formatter": "oldstyle"}),
                none.clone()
            ),
            Ok(Some(
                "read_csv('orders.csv', columns={'a': 'integer'}) -- 100%".into()
            ))
        );
        assert_eq!(
            ext(
                serde_json::json!({"external_location": "s3://b/${name}/$identifier.$$", "formatter": "template"}),
                none.clone()
            ),
            Ok(Some("'s3://b/orders/orders_tbl.$'".into()))
        );
        let e = ext(
            serde_json::json!({"external_location": "read_csv('x', columns={'a': 'integer'})"}),
            none.clone(),
        )
        .unwrap_err();
        assert!(
            e.contains("source raw.orders") && e.contains("oldstyle"),
            "{e}"
        );
        let e = ext(
            serde_json::json!({"external_location": "x", "formatter": "f"}),
            none,
        )
        .unwrap_err();
        assert!(e.contains("formatter f not recognized"), "{e}");
        let mut r = Relation::new("db", "main", "orders");
        r.external = Some("read_csv('x.csv')".into());
        assert_eq!(r.render(), "read_csv('x.csv')");
    }
}
