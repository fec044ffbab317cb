//! The properties-file resources that are not nodes of the build's SQL:
//! exposures, metrics, semantic models, saved queries and groups
//! (<https://docs.getdbt.com/reference/exposure-properties>,
//! <https://docs.getdbt.com/docs/build/metrics-overview>,
//! <https://docs.getdbt.com/docs/build/semantic-models>,
//! <https://docs.getdbt.com/docs/build/groups>). Tarmac runs no
//! MetricFlow: it keeps them in dbt 1.10's manifest shape (manifest.json
//! and the Jinja `graph`, which packages such as dbt-project-evaluator
//! read), with `depends_on` resolved from their `ref()`/`source()`/
//! `metric()` calls, measures and input metrics.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

/// The five kinds, by their properties-file key.
pub const KINDS: [&str; 5] = [
    "exposures",
    "metrics",
    "semantic_models",
    "saved_queries",
    "groups",
];

/// One resource as dbt's manifest holds it, with what it calls unresolved.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The properties key it came from (`exposures`, ...).
    pub kind: &'static str,
    pub unique_id: String,
    pub name: String,
    pub package: String,
    /// The manifest entry; `depends_on` is filled by [`resolve`].
    pub json: Value,
    pub refs: Vec<(Option<String>, String)>,
    pub sources: Vec<(String, String)>,
    /// Metric names it depends on (`metric('x')`, input metrics).
    pub metrics: Vec<String>,
    /// Measure names (a metric depends on the semantic model defining them).
    pub measures: Vec<String>,
}

/// The `resource_type` and unique-id prefix of a kind.
pub fn resource_type(kind: &str) -> &'static str {
    match kind {
        "exposures" => "exposure",
        "metrics" => "metric",
        "semantic_models" => "semantic_model",
        "saved_queries" => "saved_query",
        _ => "group",
    }
}

/// A call as written in YAML, `ref('a')`, `ref('pkg', 'a', v=2)`,
/// `source('s', 't')`, `metric('m')`: its function and arguments (keyword
/// arguments as `k=v`), quotes removed.
pub fn parse_call(s: &str) -> Option<(String, Vec<String>)> {
    let s = s.trim();
    let open = s.find('(')?;
    let inner = s[open + 1..].trim_end().strip_suffix(')')?;
    let func = s[..open].trim().to_string();
    let args = inner
        .split(',')
        .map(|a| {
            let a = a.trim();
            match a.split_once('=') {
                Some((k, v)) if !k.contains(['\'', '"']) => {
                    format!("{}={}", k.trim(), unquote(v.trim()))
                }
                _ => unquote(a).to_string(),
            }
        })
        .filter(|a| !a.is_empty())
        .collect();
    Some((func, args))
}

fn unquote(s: &str) -> &str {
    s.trim_matches(|c| c == '\'' || c == '"')
}

/// A `ref(...)` call as (package, key): the key is `name`, or `name.v<v>`
/// for a version, as the engine's ref index keys model versions.
fn ref_of(args: &[String]) -> Option<(Option<String>, String)> {
    let version = args.iter().find_map(|a| {
        a.strip_prefix("v=")
            .or_else(|| a.strip_prefix("version="))
            .map(String::from)
    });
    let pos: Vec<&String> = args.iter().filter(|a| !a.contains('=')).collect();
    let (pkg, name) = match pos.as_slice() {
        [name] => (None, (*name).clone()),
        [pkg, name] => (Some((*pkg).clone()), (*name).clone()),
        _ => return None,
    };
    Some((
        pkg,
        match version {
            Some(v) => format!("{name}.v{v}"),
            None => name,
        },
    ))
}

fn text(v: Option<&Value>) -> Value {
    v.filter(|v| !v.is_null()).cloned().unwrap_or(Value::Null)
}

fn obj(v: Option<&Value>) -> Value {
    v.filter(|v| v.is_object())
        .cloned()
        .unwrap_or(Value::Object(Map::new()))
}

fn tags(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::String(s)) => vec![Value::from(s.clone())],
        Some(Value::Array(a)) => a.clone(),
        _ => vec![],
    }
}

/// Where a resource sits: `path` is the file relative to its resource
/// path, `folders` the folders of that path (for the fqn).
pub struct Place<'a> {
    pub package: &'a str,
    pub original_file_path: &'a str,
    pub path: &'a str,
}

impl Place<'_> {
    fn fqn(&self, name: &str) -> Vec<String> {
        let mut f = vec![self.package.to_string()];
        let parts: Vec<&str> = self.path.split('/').collect();
        f.extend(
            parts[..parts.len().saturating_sub(1)]
                .iter()
                .map(|s| s.to_string()),
        );
        f.push(name.to_string());
        f
    }
}

/// A metric filter as dbt stores it: `{where_filters: [{where_sql_template}]}`
/// from a string or a list of strings.
fn where_filters(v: Option<&Value>) -> Value {
    let items: Vec<Value> = match v {
        Some(Value::String(s)) => vec![Value::from(s.clone())],
        Some(Value::Array(a)) => a.clone(),
        _ => return Value::Null,
    };
    json!({"where_filters": items
        .into_iter()
        .map(|s| json!({"where_sql_template": s}))
        .collect::<Vec<_>>()})
}

/// A measure input (`measure: name` or a mapping) in dbt's shape.
fn measure_input(v: &Value) -> Value {
    let (name, m) = match v {
        Value::String(s) => (Value::from(s.clone()), None),
        Value::Object(m) => (text(m.get("name")), Some(m)),
        _ => return Value::Null,
    };
    let get = |k: &str| m.and_then(|m| m.get(k));
    json!({
        "name": name,
        "filter": where_filters(get("filter")),
        "alias": text(get("alias")),
        "join_to_timespine": get("join_to_timespine").and_then(|b| b.as_bool()).unwrap_or(false),
        "fill_nulls_with": text(get("fill_nulls_with")),
    })
}

/// A metric input (`numerator: name`, `metrics: [{name, ...}]`).
fn metric_input(v: &Value) -> Value {
    let (name, m) = match v {
        Value::String(s) => (Value::from(s.clone()), None),
        Value::Object(m) => (text(m.get("name")), Some(m)),
        _ => return Value::Null,
    };
    let get = |k: &str| m.and_then(|m| m.get(k));
    json!({
        "name": name,
        "filter": where_filters(get("filter")),
        "alias": text(get("alias")),
        "offset_window": get("offset_window").map(window).unwrap_or(Value::Null),
        "offset_to_grain": text(get("offset_to_grain")),
    })
}

/// `window: 30 days` as dbt's `{count, granularity}` (the unit singular).
fn window(v: &Value) -> Value {
    let Some(s) = v.as_str() else {
        return v.clone();
    };
    let mut it = s.split_whitespace();
    match (it.next().and_then(|c| c.parse::<i64>().ok()), it.next()) {
        (Some(count), Some(unit)) => {
            let unit = unit.to_lowercase();
            let unit = unit.strip_suffix('s').unwrap_or(&unit);
            json!({"count": count, "granularity": unit})
        }
        _ => Value::from(s),
    }
}

/// Build the resources of one properties entry list.
pub fn build(kind: &'static str, item: &Value, place: &Place<'_>) -> Result<Resource, String> {
    let name = item
        .get("name")
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("key {kind}: an entry has no name"))?
        .to_string();
    let rt = resource_type(kind);
    let unique_id = format!("{rt}.{}.{name}", place.package);
    let mut refs = Vec::new();
    let mut sources = Vec::new();
    let mut metrics = Vec::new();
    let mut measures = Vec::new();
    let config = obj(item.get("config"));
    let mut meta = obj(item.get("meta"));
    if let (Value::Object(m), Some(Value::Object(c))) = (&mut meta, config.get("meta")) {
        m.extend(c.clone());
    }
    let mut tg = tags(item.get("tags"));
    for t in tags(config.get("tags")) {
        if !tg.contains(&t) {
            tg.push(t);
        }
    }
    let group = text(item.get("group").or_else(|| config.get("group")));
    let head = |m: &mut Map<String, Value>| {
        m.insert("name".into(), Value::from(name.clone()));
        m.insert("resource_type".into(), Value::from(rt));
        m.insert("package_name".into(), Value::from(place.package));
        m.insert("path".into(), Value::from(place.path));
        m.insert(
            "original_file_path".into(),
            Value::from(place.original_file_path),
        );
        m.insert("unique_id".into(), Value::from(unique_id.clone()));
    };
    let mut m = Map::new();
    head(&mut m);
    let created_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as f64 / 1e6)
        .unwrap_or(0.0);
    match kind {
        "exposures" => {
            for d in item
                .get("depends_on")
                .and_then(|d| d.as_array())
                .into_iter()
                .flatten()
            {
                let Some((func, args)) = d.as_str().and_then(parse_call) else {
                    return Err(format!("exposure {name}: depends_on: cannot read {d}"));
                };
                match (func.as_str(), args.as_slice()) {
                    ("ref", a) => refs
                        .push(ref_of(a).ok_or_else(|| format!("exposure {name}: bad call {d}"))?),
                    ("source", [s, t]) => sources.push((s.clone(), t.clone())),
                    ("metric", [m]) => metrics.push(m.clone()),
                    _ => return Err(format!("exposure {name}: depends_on: cannot read {d}")),
                }
            }
            let owner = obj(item.get("owner"));
            let mut cfg = Map::new();
            cfg.insert(
                "enabled".into(),
                config.get("enabled").cloned().unwrap_or(Value::Bool(true)),
            );
            cfg.insert("tags".into(), Value::from(tg.clone()));
            cfg.insert("meta".into(), meta.clone());
            m.insert("fqn".into(), json!(place.fqn(&name)));
            m.insert("type".into(), text(item.get("type")));
            m.insert(
                "owner".into(),
                json!({"email": text(owner.get("email")), "name": text(owner.get("name"))}),
            );
            m.insert(
                "description".into(),
                item.get("description").cloned().unwrap_or(Value::from("")),
            );
            m.insert("label".into(), text(item.get("label")));
            m.insert("maturity".into(), text(item.get("maturity")));
            m.insert("meta".into(), meta);
            m.insert("tags".into(), Value::from(tg));
            m.insert("config".into(), Value::Object(cfg));
            m.insert("unrendered_config".into(), config.clone());
            m.insert("url".into(), text(item.get("url")));
        }
        "metrics" => {
            let tp = obj(item.get("type_params"));
            let measure = tp.get("measure").map(measure_input).unwrap_or(Value::Null);
            if let Some(n) = measure.get("name").and_then(|n| n.as_str()) {
                measures.push(n.to_string());
            }
            let inputs: Vec<Value> = tp
                .get("metrics")
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
                .map(metric_input)
                .collect();
            let ratio = |k: &str| tp.get(k).map(metric_input).unwrap_or(Value::Null);
            let (numerator, denominator) = (ratio("numerator"), ratio("denominator"));
            for i in inputs.iter().chain([&numerator, &denominator]) {
                if let Some(n) = i.get("name").and_then(|n| n.as_str()) {
                    metrics.push(n.to_string());
                }
            }
            let cumulative = tp.get("cumulative_type_params").map(|c| {
                json!({
                    "window": c.get("window").map(window).unwrap_or(Value::Null),
                    "grain_to_date": text(c.get("grain_to_date")),
                    "period_agg": c.get("period_agg").cloned().unwrap_or(Value::from("first")),
                    "metric": null,
                })
            });
            let conversion = tp.get("conversion_type_params").map(|c| {
                let base = c.get("base_measure").map(measure_input).unwrap_or(Value::Null);
                let conv = c
                    .get("conversion_measure")
                    .map(measure_input)
                    .unwrap_or(Value::Null);
                for x in [&base, &conv] {
                    if let Some(n) = x.get("name").and_then(|n| n.as_str()) {
                        measures.push(n.to_string());
                    }
                }
                json!({
                    "base_measure": base, "conversion_measure": conv,
                    "entity": text(c.get("entity")),
                    "calculation": c.get("calculation").cloned().unwrap_or(Value::from("conversion_rate")),
                    "window": c.get("window").map(window).unwrap_or(Value::Null),
                    "constant_properties": text(c.get("constant_properties")),
                })
            });
            let input_measures: Vec<Value> = if measure.is_null() {
                vec![]
            } else {
                vec![measure.clone()]
            };
            let mut cfg = Map::new();
            cfg.insert(
                "enabled".into(),
                config.get("enabled").cloned().unwrap_or(Value::Bool(true)),
            );
            cfg.insert("group".into(), group.clone());
            cfg.insert("meta".into(), meta.clone());
            m.insert("fqn".into(), json!(place.fqn(&name)));
            m.insert(
                "description".into(),
                item.get("description").cloned().unwrap_or(Value::from("")),
            );
            m.insert("label".into(), text(item.get("label")));
            m.insert("type".into(), text(item.get("type")));
            m.insert(
                "type_params".into(),
                json!({
                    "measure": measure,
                    "input_measures": input_measures,
                    "numerator": numerator,
                    "denominator": denominator,
                    "expr": text(tp.get("expr")),
                    "window": tp.get("window").map(window).unwrap_or(Value::Null),
                    "grain_to_date": text(tp.get("grain_to_date")),
                    "metrics": inputs,
                    "conversion_type_params": conversion,
                    "cumulative_type_params": cumulative,
                    "metric_aggregation_params": null,
                }),
            );
            m.insert("filter".into(), where_filters(item.get("filter")));
            m.insert("metadata".into(), Value::Null);
            m.insert(
                "time_granularity".into(),
                text(item.get("time_granularity")),
            );
            m.insert("meta".into(), meta);
            m.insert("tags".into(), Value::from(tg));
            m.insert("config".into(), Value::Object(cfg));
            m.insert("unrendered_config".into(), config.clone());
        }
        "semantic_models" => {
            let model = text(item.get("model"));
            if let Some(s) = model.as_str() {
                match parse_call(s) {
                    Some((f, args)) if f == "ref" => refs.push(
                        ref_of(&args)
                            .ok_or_else(|| format!("semantic model {name}: bad model {s}"))?,
                    ),
                    _ => return Err(format!("semantic model {name}: model: expected ref(...)")),
                }
            }
            let with_meta = |v: &Value, fields: &[(&str, Value)]| -> Value {
                let mut out = Map::new();
                for (k, d) in fields {
                    out.insert((*k).to_string(), v.get(*k).cloned().unwrap_or(d.clone()));
                }
                let mut c = obj(v.get("config"));
                if let Value::Object(c) = &mut c {
                    c.entry("meta").or_insert(json!({}));
                }
                out.insert("config".into(), c);
                Value::Object(out)
            };
            let list = |k: &str| -> Vec<Value> {
                item.get(k)
                    .and_then(|a| a.as_array())
                    .cloned()
                    .unwrap_or_default()
            };
            let entities: Vec<Value> = list("entities")
                .iter()
                .map(|e| {
                    with_meta(
                        e,
                        &[
                            ("name", Value::Null),
                            ("type", Value::Null),
                            ("description", Value::Null),
                            ("label", Value::Null),
                            ("role", Value::Null),
                            ("expr", Value::Null),
                        ],
                    )
                })
                .collect();
            let measures_json: Vec<Value> = list("measures")
                .iter()
                .map(|e| {
                    let mut v = with_meta(
                        e,
                        &[
                            ("name", Value::Null),
                            ("agg", Value::Null),
                            ("description", Value::Null),
                            ("label", Value::Null),
                            ("create_metric", Value::Bool(false)),
                            ("expr", Value::Null),
                            ("agg_params", Value::Null),
                            ("non_additive_dimension", Value::Null),
                            ("agg_time_dimension", Value::Null),
                        ],
                    );
                    // dbt keeps a measure's expr as text (`expr: 1` is "1")
                    if let Some(x) = v.get_mut("expr") {
                        if x.is_number() || x.is_boolean() {
                            *x = Value::from(x.to_string());
                        }
                    }
                    v
                })
                .collect();
            let dimensions: Vec<Value> = list("dimensions")
                .iter()
                .map(|e| {
                    let mut v = with_meta(
                        e,
                        &[
                            ("name", Value::Null),
                            ("type", Value::Null),
                            ("description", Value::Null),
                            ("label", Value::Null),
                            ("is_partition", Value::Bool(false)),
                            ("type_params", Value::Null),
                            ("expr", Value::Null),
                            ("metadata", Value::Null),
                        ],
                    );
                    if let Some(Value::Object(tp)) = v.get_mut("type_params") {
                        tp.entry("time_granularity").or_insert(Value::Null);
                        tp.entry("validity_params").or_insert(Value::Null);
                    }
                    v
                })
                .collect();
            let mut cfg = Map::new();
            cfg.insert(
                "enabled".into(),
                config.get("enabled").cloned().unwrap_or(Value::Bool(true)),
            );
            cfg.insert("group".into(), group.clone());
            cfg.insert("meta".into(), meta.clone());
            m.insert("fqn".into(), json!(place.fqn(&name)));
            m.insert("model".into(), model);
            m.insert("node_relation".into(), Value::Null);
            m.insert("description".into(), text(item.get("description")));
            m.insert("label".into(), text(item.get("label")));
            m.insert("defaults".into(), text(item.get("defaults")));
            m.insert("entities".into(), Value::from(entities));
            m.insert("measures".into(), Value::from(measures_json));
            m.insert("dimensions".into(), Value::from(dimensions));
            m.insert("metadata".into(), Value::Null);
            m.insert("depends_on".into(), Value::Null);
            m.insert("refs".into(), Value::Null);
            m.insert("created_at".into(), Value::from(created_at));
            m.insert("config".into(), Value::Object(cfg));
            m.insert("unrendered_config".into(), config.clone());
            m.insert("primary_entity".into(), text(item.get("primary_entity")));
            m.insert("group".into(), group.clone());
        }
        "groups" => {
            let owner = obj(item.get("owner"));
            m.insert(
                "owner".into(),
                json!({"email": text(owner.get("email")), "name": text(owner.get("name"))}),
            );
            m.insert("description".into(), text(item.get("description")));
            let mut cfg = config.as_object().cloned().unwrap_or_default();
            cfg.entry("meta").or_insert(json!({}));
            m.insert("config".into(), Value::Object(cfg));
        }
        _ => {
            // saved queries: kept as written, with dbt's identity fields
            if let Value::Object(src) = item {
                for (k, v) in src {
                    m.entry(k.clone()).or_insert(v.clone());
                }
            }
            m.insert("fqn".into(), json!(place.fqn(&name)));
            for d in ["metrics"] {
                if let Some(q) = item.get("query_params").and_then(|q| q.get(d)) {
                    for x in q.as_array().into_iter().flatten() {
                        if let Some(s) = x.as_str() {
                            metrics.push(s.to_string());
                        }
                    }
                }
            }
            m.insert(
                "config".into(),
                json!({"enabled": true, "group": group, "meta": meta}),
            );
        }
    }
    Ok(Resource {
        kind,
        unique_id,
        name,
        package: place.package.to_string(),
        json: Value::Object(m),
        refs,
        sources,
        metrics,
        measures,
    })
    .map(|mut r| {
        if kind != "groups" {
            r.set_links(Vec::new());
        }
        if kind == "exposures" || kind == "metrics" {
            if let Value::Object(o) = &mut r.json {
                o.insert("created_at".into(), Value::from(created_at));
            }
        }
        if kind == "metrics" {
            if let Value::Object(o) = &mut r.json {
                o.insert("group".into(), group);
            }
        }
        r
    })
}

impl Resource {
    /// Whether the resource is enabled (`config: {enabled: false}`).
    pub fn enabled(&self) -> bool {
        self.json
            .get("config")
            .and_then(|c| c.get("enabled"))
            .and_then(|e| e.as_bool())
            .unwrap_or(true)
    }

    /// Write `depends_on`, `refs`, `sources` and `metrics` as dbt does,
    /// with `nodes` the resolved unique ids.
    pub fn set_links(&mut self, nodes: Vec<String>) {
        let refs: Vec<Value> = self
            .refs
            .iter()
            .map(|(p, key)| {
                let (name, v) = match key.split_once(".v") {
                    Some((n, v)) => (n, Value::from(v)),
                    None => (key.as_str(), Value::Null),
                };
                json!({"name": name, "package": p, "version": v})
            })
            .collect();
        let sources: Vec<Value> = self.sources.iter().map(|(s, t)| json!([s, t])).collect();
        let metrics: Vec<Value> = if self.kind == "exposures" {
            self.metrics.iter().map(|m| json!([m])).collect()
        } else {
            vec![]
        };
        let Value::Object(o) = &mut self.json else {
            return;
        };
        let deps = json!({"macros": [], "nodes": nodes});
        match self.kind {
            "semantic_models" => {
                o.insert("depends_on".into(), deps);
                o.insert("refs".into(), Value::from(refs));
            }
            "metrics" => {
                o.insert("sources".into(), Value::from(sources));
                o.insert("depends_on".into(), deps);
                o.insert("refs".into(), Value::from(refs));
                o.insert("metrics".into(), Value::from(metrics));
            }
            _ => {
                o.insert("depends_on".into(), deps);
                o.insert("refs".into(), Value::from(refs));
                o.insert("sources".into(), Value::from(sources));
                o.insert("metrics".into(), Value::from(metrics));
            }
        }
    }
}

/// Looks a `ref()` up as called from a package: (caller's package, the
/// call's package, key) to the node's unique id and its relation
/// (`node_relation`).
pub type FindRef<'a> = dyn Fn(&str, Option<&str>, &str) -> Option<(String, Value)> + 'a;

/// Resolve every resource's dependencies: `refs`/`sources` through the
/// engine's lookups (given as functions, which apply dbt's package search
/// order), metrics by name (the resource's package first), and measures
/// to the semantic model defining them. A semantic model also gets its
/// model's relation (`node_relation`). Unresolved names are errors.
pub fn resolve(
    resources: &mut [Resource],
    find_ref: &FindRef<'_>,
    find_source: &dyn Fn(&str, &str, &str) -> Option<String>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let mut metric_ids: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut measure_owner: HashMap<String, String> = HashMap::new();
    for r in resources.iter() {
        if r.kind == "metrics" {
            metric_ids
                .entry(r.name.clone())
                .or_default()
                .push((r.package.clone(), r.unique_id.clone()));
        }
        if r.kind == "semantic_models" {
            for ms in r
                .json
                .get("measures")
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(n) = ms.get("name").and_then(|n| n.as_str()) {
                    measure_owner
                        .entry(n.to_string())
                        .or_insert(r.unique_id.clone());
                }
            }
        }
    }
    for r in resources.iter_mut() {
        if r.kind == "groups" {
            continue;
        }
        let what = format!("{} '{}'", resource_type(r.kind), r.unique_id);
        let mut nodes: Vec<String> = Vec::new();
        let mut push = |id: String| {
            if !nodes.contains(&id) {
                nodes.push(id);
            }
        };
        // dbt lists sources before refs
        for (s, t) in &r.sources {
            match find_source(&r.package, s, t) {
                Some(id) => push(id),
                None => errors.push(format!(
                    "{what} depends on a source named '{s}.{t}' which was not found"
                )),
            }
        }
        let mut relation = None;
        for (p, key) in &r.refs {
            match find_ref(&r.package, p.as_deref(), key) {
                Some((id, rel)) => {
                    relation.get_or_insert(rel);
                    push(id)
                }
                None => errors.push(format!(
                    "{what} depends on a node named '{key}' which was not found"
                )),
            }
        }
        for ms in &r.measures {
            match measure_owner.get(ms) {
                Some(id) => push(id.clone()),
                None => errors.push(format!(
                    "{what} uses a measure named '{ms}' which no semantic model defines"
                )),
            }
        }
        for mt in &r.metrics {
            let found = metric_ids.get(mt).and_then(|c| {
                c.iter()
                    .find(|(p, _)| *p == r.package)
                    .or_else(|| c.first())
                    .map(|(_, id)| id.clone())
            });
            match found {
                Some(id) => push(id),
                None => errors.push(format!(
                    "{what} depends on a metric named '{mt}' which was not found"
                )),
            }
        }
        r.set_links(nodes);
        if r.kind == "semantic_models" {
            if let (Some(rel), Value::Object(o)) = (relation, &mut r.json) {
                o.insert("node_relation".into(), rel);
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> Place<'static> {
        Place {
            package: "p",
            original_file_path: "models/marts/m.yml",
            path: "marts/m.yml",
        }
    }

    #[test]
    fn calls_as_written() {
        assert_eq!(
            parse_call("ref('a')"),
            Some(("ref".into(), vec!["a".into()]))
        );
        assert_eq!(
            parse_call(" source( \"s\", 't' ) "),
            Some(("source".into(), vec!["s".into(), "t".into()]))
        );
        assert_eq!(
            ref_of(&parse_call("ref('pkg', 'a', v=2)").unwrap().1),
            Some((Some("pkg".into()), "a.v2".into()))
        );
        assert_eq!(parse_call("no call"), None);
    }

    #[test]
    fn exposure_metric_and_semantic_model_in_dbts_shape() {
        let doc = crate::yaml::parse(
            std::path::Path::new("m.yml"),
            "exposures:\n  - name: e\n    type: dashboard\n    owner: {name: Dave}\n    config: {tags: [x]}\n    depends_on:\n      - ref('a')\n      - ref('a')\n      - source('s', 't')\n      - metric('m')\nsemantic_models:\n  - name: sm\n    model: ref('a')\n    measures:\n      - {name: total, agg: count, expr: 1}\nmetrics:\n  - name: m\n    label: M\n    type: cumulative\n    type_params:\n      measure: total\n      cumulative_type_params: {window: 30 days}\n    filter: |\n      x > 0\n",
        )
        .unwrap();
        let mut rs = Vec::new();
        for kind in KINDS {
            for item in doc
                .get(kind)
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
            {
                rs.push(build(kind, item, &place()).unwrap());
            }
        }
        let errors = resolve(
            &mut rs,
            &|_, _, k| (k == "a").then(|| ("model.p.a".into(), json!({"alias": "a"}))),
            &|_, s, t| (s == "s" && t == "t").then(|| "source.p.s.t".into()),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let e = &rs[0].json;
        assert_eq!(e["unique_id"], "exposure.p.e");
        assert_eq!(e["fqn"], json!(["p", "marts", "e"]));
        assert_eq!(e["owner"], json!({"email": null, "name": "Dave"}));
        assert_eq!(e["tags"], json!(["x"]));
        assert_eq!(
            e["depends_on"]["nodes"],
            json!(["source.p.s.t", "model.p.a", "metric.p.m"])
        );
        assert_eq!(e["refs"].as_array().unwrap().len(), 2);
        let m = &rs[1].json;
        assert_eq!(m["unique_id"], "metric.p.m");
        assert_eq!(m["depends_on"]["nodes"], json!(["semantic_model.p.sm"]));
        assert_eq!(
            m["type_params"]["cumulative_type_params"]["window"],
            json!({"count": 30, "granularity": "day"})
        );
        assert_eq!(m["type_params"]["measure"]["name"], "total");
        assert_eq!(
            m["filter"],
            json!({"where_filters": [{"where_sql_template": "x > 0\n"}]})
        );
        let sm = &rs[2].json;
        assert_eq!(sm["depends_on"]["nodes"], json!(["model.p.a"]));
        assert_eq!(sm["node_relation"], json!({"alias": "a"}));
        assert_eq!(sm["measures"][0]["expr"], "1");
        // an unknown ref is an error naming the resource
        let mut bad = vec![build(
            "exposures",
            &json!({"name": "x", "depends_on": ["ref('nope')"]}),
            &place(),
        )
        .unwrap()];
        let errors = resolve(&mut bad, &|_, _, _| None, &|_, _, _| None);
        assert!(errors[0].contains("exposure 'exposure.p.x'") && errors[0].contains("nope"));
    }
}
