//! Column-level lineage: for each column a model produces, the upstream
//! columns (of models, seeds, snapshots, sources) that feed it.
//!
//! The compiled SQL is parsed by DuckDB itself (`json_serialize_sql()`,
//! from the `json` extension we already link), so the dialect is exactly the
//! one that runs the model, with no new parser to keep in step. The parse
//! tree is then walked with scopes: CTEs (in order, each seeing the earlier
//! ones), subqueries in FROM, joins (a `USING` column appears once in `*`),
//! `*` / `t.*` with `EXCLUDE`, set operations (by position), scalar
//! subqueries (correlated references resolve outward) and references to
//! earlier select-list aliases. Expressions are walked generically: every
//! `COLUMN_REF` under a select item feeds it, whatever functions, casts or
//! CASEs sit between, so new expression kinds need no code here. Filters,
//! joins conditions and GROUP BY do not feed a column and are not counted.
//!
//! dbt's ephemeral models arrive as `__dbt__cte__<name>` CTEs; they are
//! reported as the ephemeral model (as the model-level graph shows it), not
//! looked through. Relations the manifest does not know are reported as
//! `relation:<db>.<schema>.<name>`.

use std::collections::{BTreeSet, HashMap, HashSet};
use warehouse::duckdb;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An upstream column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Source {
    pub unique_id: String,
    pub column: String,
}

/// One output column and what feeds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnLineage {
    pub name: String,
    pub sources: Vec<Source>,
    /// The column is an upstream column passed through unchanged (a bare
    /// reference), not computed from it.
    pub direct: bool,
}

/// (database, schema, identifier), lower case.
type RelationKey = (String, String, String);

/// A node owning a relation: its unique id and, when known, its columns.
type Owner = (String, Option<Vec<String>>);

/// What the lineage needs to know about the warehouse's relations.
#[derive(Debug, Default, Clone)]
pub struct Relations {
    /// (database, schema, identifier), lower case → (unique id, columns).
    /// A relation shared by several nodes (a seed and a source on the same
    /// table) has several entries; the one the model depends on wins.
    by_relation: HashMap<RelationKey, Vec<Owner>>,
    /// Ephemeral model name, lower case → unique id.
    ephemeral: HashMap<String, String>,
    default_database: String,
    default_schema: String,
}

impl Relations {
    /// `default_database`/`default_schema` resolve unqualified names.
    pub fn new(default_database: &str, default_schema: &str) -> Self {
        Relations {
            default_database: default_database.to_lowercase(),
            default_schema: default_schema.to_lowercase(),
            ..Default::default()
        }
    }

    /// A relation of the manifest, with its columns when the catalog knows them.
    pub fn add(
        &mut self,
        database: &str,
        schema: &str,
        identifier: &str,
        unique_id: &str,
        columns: Option<Vec<String>>,
    ) {
        self.by_relation
            .entry((
                database.to_lowercase(),
                schema.to_lowercase(),
                identifier.to_lowercase(),
            ))
            .or_default()
            .push((unique_id.to_string(), columns));
    }

    /// An ephemeral model, injected as the CTE `__dbt__cte__<name>`.
    pub fn add_ephemeral(&mut self, name: &str, unique_id: &str) {
        self.ephemeral
            .insert(name.to_lowercase(), unique_id.to_string());
    }
}

/// DuckDB's parser behind one prepared statement (preparing costs more
/// than parsing a model, and a project has thousands).
pub struct Parser<'c> {
    stmt: duckdb::Statement<'c>,
}

impl<'c> Parser<'c> {
    pub fn new(conn: &'c duckdb::Connection) -> Result<Parser<'c>, String> {
        let stmt = conn
            .prepare("SELECT json_serialize_sql(?::VARCHAR)")
            .map_err(|e| e.to_string())?;
        Ok(Parser { stmt })
    }

    /// DuckDB's parse tree of `sql`, or its parse error.
    pub fn parse(&mut self, sql: &str) -> Result<Value, String> {
        let text: String = self
            .stmt
            .query_row([sql], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if v.get("error").and_then(Value::as_bool) == Some(true) {
            let msg = v
                .get("error_message")
                .and_then(Value::as_str)
                .unwrap_or("the SQL could not be parsed");
            return Err(msg.to_string());
        }
        Ok(v)
    }
}

/// DuckDB's parse tree of `sql`, or its parse error.
pub fn parse_tree(conn: &duckdb::Connection, sql: &str) -> Result<Value, String> {
    Parser::new(conn)?.parse(sql)
}

/// A column while it is being resolved.
#[derive(Debug, Clone, Default)]
struct Col {
    name: String,
    sources: BTreeSet<Source>,
    direct: bool,
}

/// A relation in a FROM clause.
#[derive(Debug, Clone)]
struct Entry {
    alias: String,
    /// None: columns unknown (external relation, table function).
    cols: Option<Vec<Col>>,
    /// For unknown columns: the relation they would come from.
    leaf: Option<String>,
    /// Columns `*` leaves out (the right side of `USING`).
    hidden: HashSet<String>,
}

type Ctes = Vec<(String, Vec<Col>)>;

struct Walker<'a> {
    rels: &'a Relations,
    /// The model's own dependencies, preferred among relations' owners.
    depends_on: &'a [String],
    depth: usize,
}

fn s<'v>(v: &'v Value, k: &str) -> &'v str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// A query node inside a statement-like wrapper (`{"node": …}`).
fn query_node(v: &Value) -> &Value {
    match v.get("node") {
        Some(n) if n.is_object() => n,
        _ => v,
    }
}

fn lower(x: &str) -> String {
    x.to_lowercase()
}

impl<'a> Walker<'a> {
    fn query(
        &mut self,
        node: &Value,
        ctes: &Ctes,
        outer: &[Vec<Entry>],
    ) -> Result<Vec<Col>, String> {
        self.depth += 1;
        if self.depth > 200 {
            return Err("the query nests too deeply".into());
        }
        let r = self.query_inner(node, ctes, outer);
        self.depth -= 1;
        r
    }

    fn with_ctes(
        &mut self,
        node: &Value,
        ctes: &Ctes,
        outer: &[Vec<Entry>],
    ) -> Result<Ctes, String> {
        let mut ctes = ctes.clone();
        let Some(map) = node.pointer("/cte_map/map").and_then(Value::as_array) else {
            return Ok(ctes);
        };
        for item in map {
            let name = s(item, "key").to_string();
            let value = item.get("value").unwrap_or(&Value::Null);
            let q = value
                .get("query")
                .map(query_node)
                .or_else(|| value.get("query_node"))
                .unwrap_or(&Value::Null);
            let mut cols = self.query(q, &ctes, outer)?;
            if let Some(aliases) = value.get("aliases").and_then(Value::as_array) {
                for (c, a) in cols.iter_mut().zip(aliases) {
                    if let Some(a) = a.as_str() {
                        c.name = a.to_string();
                    }
                }
            }
            if let Some(ephemeral) = name
                .strip_prefix("__dbt__cte__")
                .and_then(|n| self.rels.ephemeral.get(&lower(n)))
            {
                cols = cols
                    .into_iter()
                    .map(|c| Col {
                        sources: [Source {
                            unique_id: ephemeral.clone(),
                            column: c.name.clone(),
                        }]
                        .into(),
                        name: c.name,
                        direct: true,
                    })
                    .collect();
            }
            ctes.retain(|(n, _)| lower(n) != lower(&name));
            ctes.push((name, cols));
        }
        Ok(ctes)
    }

    fn query_inner(
        &mut self,
        node: &Value,
        ctes: &Ctes,
        outer: &[Vec<Entry>],
    ) -> Result<Vec<Col>, String> {
        let node = query_node(node);
        let ctes = self.with_ctes(node, ctes, outer)?;
        match s(node, "type") {
            "SELECT_NODE" => self.select(node, &ctes, outer),
            "SET_OPERATION_NODE" | "RECURSIVE_CTE_NODE" => {
                let mut parts: Vec<&Value> = Vec::new();
                if let Some(c) = node.get("children").and_then(Value::as_array) {
                    parts.extend(c.iter());
                }
                for k in ["left", "right"] {
                    if let Some(x) = node.get(k).filter(|x| x.is_object()) {
                        parts.push(x);
                    }
                }
                let mut out: Option<Vec<Col>> = None;
                for p in parts {
                    let cols = self.query(p, &ctes, outer)?;
                    match &mut out {
                        None => out = Some(cols),
                        Some(o) => {
                            for (a, b) in o.iter_mut().zip(cols) {
                                a.sources.extend(b.sources);
                                a.direct = false;
                            }
                        }
                    }
                }
                Ok(out.unwrap_or_default())
            }
            "CTE_NODE" => match node.get("child") {
                Some(c) => self.query(c, &ctes, outer),
                None => Ok(Vec::new()),
            },
            other => Err(format!("unsupported query node {other:?}")),
        }
    }

    /// The FROM clause as scope entries.
    fn table_ref(
        &mut self,
        t: &Value,
        ctes: &Ctes,
        outer: &[Vec<Entry>],
    ) -> Result<Vec<Entry>, String> {
        let alias = s(t, "alias").to_string();
        match s(t, "type") {
            "BASE_TABLE" => {
                let (catalog, schema, table) = (
                    s(t, "catalog_name"),
                    s(t, "schema_name"),
                    s(t, "table_name"),
                );
                let alias = if alias.is_empty() {
                    table.to_string()
                } else {
                    alias
                };
                if catalog.is_empty() && schema.is_empty() {
                    if let Some((_, cols)) =
                        ctes.iter().rev().find(|(n, _)| lower(n) == lower(table))
                    {
                        return Ok(vec![Entry {
                            alias,
                            cols: Some(cols.clone()),
                            leaf: None,
                            hidden: HashSet::new(),
                        }]);
                    }
                }
                let db = if catalog.is_empty() {
                    self.rels.default_database.clone()
                } else {
                    lower(catalog)
                };
                let sc = if schema.is_empty() {
                    self.rels.default_schema.clone()
                } else {
                    lower(schema)
                };
                let mut found = self
                    .rels
                    .by_relation
                    .get(&(db.clone(), sc.clone(), lower(table)));
                if found.is_none() && catalog.is_empty() && !schema.is_empty() {
                    // `schema.table` may also be `catalog.table`
                    found = self.rels.by_relation.get(&(
                        lower(schema),
                        self.rels.default_schema.clone(),
                        lower(table),
                    ));
                }
                let found = found.and_then(|owners| {
                    owners
                        .iter()
                        .find(|(uid, _)| self.depends_on.contains(uid))
                        .or(owners.first())
                });
                Ok(vec![match found {
                    Some((uid, Some(cols))) => Entry {
                        alias,
                        cols: Some(
                            cols.iter()
                                .map(|c| Col {
                                    name: c.clone(),
                                    sources: [Source {
                                        unique_id: uid.clone(),
                                        column: c.clone(),
                                    }]
                                    .into(),
                                    direct: true,
                                })
                                .collect(),
                        ),
                        leaf: Some(uid.clone()),
                        hidden: HashSet::new(),
                    },
                    Some((uid, None)) => Entry {
                        alias,
                        cols: None,
                        leaf: Some(uid.clone()),
                        hidden: HashSet::new(),
                    },
                    None => Entry {
                        alias,
                        cols: None,
                        leaf: Some(format!("relation:{db}.{sc}.{table}")),
                        hidden: HashSet::new(),
                    },
                }])
            }
            "JOIN" => {
                let mut left =
                    self.table_ref(t.get("left").unwrap_or(&Value::Null), ctes, outer)?;
                let mut right =
                    self.table_ref(t.get("right").unwrap_or(&Value::Null), ctes, outer)?;
                if let Some(using) = t.get("using_columns").and_then(Value::as_array) {
                    for u in using.iter().filter_map(Value::as_str) {
                        for e in right.iter_mut() {
                            e.hidden.insert(lower(u));
                        }
                    }
                }
                left.append(&mut right);
                Ok(left)
            }
            "SUBQUERY" => {
                let q = t.get("subquery").map(query_node).unwrap_or(&Value::Null);
                let mut cols = self.query(q, ctes, outer)?;
                if let Some(names) = t.get("column_name_alias").and_then(Value::as_array) {
                    for (c, n) in cols.iter_mut().zip(names) {
                        if let Some(n) = n.as_str() {
                            c.name = n.to_string();
                        }
                    }
                }
                Ok(vec![Entry {
                    alias,
                    cols: Some(cols),
                    leaf: None,
                    hidden: HashSet::new(),
                }])
            }
            "EMPTY" | "" => Ok(Vec::new()),
            _ => Ok(vec![Entry {
                alias,
                cols: None,
                leaf: None,
                hidden: HashSet::new(),
            }]),
        }
    }

    fn select(
        &mut self,
        node: &Value,
        ctes: &Ctes,
        outer: &[Vec<Entry>],
    ) -> Result<Vec<Col>, String> {
        let scope = match node.get("from_table") {
            Some(t) if t.is_object() => self.table_ref(t, ctes, outer)?,
            _ => Vec::new(),
        };
        let mut scopes: Vec<Vec<Entry>> = outer.to_vec();
        scopes.push(scope);
        let mut out: Vec<Col> = Vec::new();
        let items = node
            .get("select_list")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for item in &items {
            if s(item, "class") == "STAR"
                && !item
                    .get("columns")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            {
                out.extend(star(item, scopes.last().map(Vec::as_slice).unwrap_or(&[])));
                continue;
            }
            let mut col = Col {
                name: s(item, "alias").to_string(),
                ..Default::default()
            };
            let is_ref = s(item, "class") == "COLUMN_REF";
            if is_ref && col.name.is_empty() {
                if let Some(last) = item
                    .get("column_names")
                    .and_then(Value::as_array)
                    .and_then(|a| a.last())
                    .and_then(Value::as_str)
                {
                    col.name = last.to_string();
                }
            }
            let mut direct = is_ref;
            self.expr(item, ctes, &scopes, &out, &mut col.sources, &mut direct)?;
            col.direct = direct && col.sources.len() == 1;
            out.push(col);
        }
        Ok(out)
    }

    /// Collect the sources of every column reference under `e`.
    fn expr(
        &mut self,
        e: &Value,
        ctes: &Ctes,
        scopes: &[Vec<Entry>],
        earlier: &[Col],
        into: &mut BTreeSet<Source>,
        direct: &mut bool,
    ) -> Result<(), String> {
        match e {
            Value::Array(a) => {
                for x in a {
                    self.expr(x, ctes, scopes, earlier, into, direct)?;
                }
            }
            Value::Object(m) => match m.get("class").and_then(Value::as_str) {
                Some("COLUMN_REF") => {
                    let names: Vec<&str> = m
                        .get("column_names")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    match resolve(&names, scopes, earlier) {
                        Some(c) => {
                            *direct &= c.direct;
                            into.extend(c.sources);
                        }
                        None => *direct = false,
                    }
                }
                Some("SUBQUERY") => {
                    *direct = false;
                    if let Some(q) = m.get("subquery") {
                        for c in self.query(q, ctes, scopes)? {
                            into.extend(c.sources);
                        }
                    }
                    if let Some(child) = m.get("child") {
                        self.expr(child, ctes, scopes, earlier, into, direct)?;
                    }
                }
                Some("STAR") => *direct = false,
                _ => {
                    if m.contains_key("class") {
                        *direct = false;
                    }
                    for (k, v) in m {
                        if k != "query_location" && (v.is_object() || v.is_array()) {
                            self.expr(v, ctes, scopes, earlier, into, direct)?;
                        }
                    }
                }
            },
            _ => {}
        }
        Ok(())
    }
}

fn excluded(item: &Value) -> HashSet<String> {
    let mut out = HashSet::new();
    for k in ["exclude_list", "qualified_exclude_list"] {
        if let Some(a) = item.get(k).and_then(Value::as_array) {
            for x in a {
                if let Some(s) = x.as_str() {
                    out.insert(lower(s));
                } else if let Some(n) = x
                    .get("column_names")
                    .and_then(Value::as_array)
                    .and_then(|a| a.last())
                    .and_then(Value::as_str)
                {
                    out.insert(lower(n));
                }
            }
        }
    }
    out
}

/// `*` or `rel.*` over the innermost scope.
fn star(item: &Value, scope: &[Entry]) -> Vec<Col> {
    let rel = s(item, "relation_name");
    let skip = excluded(item);
    let mut out = Vec::new();
    for e in scope {
        if !rel.is_empty() && lower(&e.alias) != lower(rel) {
            continue;
        }
        for c in e.cols.iter().flatten() {
            let l = lower(&c.name);
            if skip.contains(&l) || (rel.is_empty() && e.hidden.contains(&l)) {
                continue;
            }
            out.push(c.clone());
        }
    }
    out
}

/// Find a referenced column: innermost scope first, then outer scopes
/// (correlated subqueries), then earlier select-list aliases.
fn resolve(names: &[&str], scopes: &[Vec<Entry>], earlier: &[Col]) -> Option<Col> {
    let (rel, col) = match names {
        [] => return None,
        [c] => (None, *c),
        [.., r, c] => (Some(*r), *c),
    };
    let lc = lower(col);
    for scope in scopes.iter().rev() {
        let candidates: Vec<&Entry> = scope
            .iter()
            .filter(|e| rel.is_none_or(|r| lower(&e.alias) == lower(r)))
            .collect();
        for e in &candidates {
            if let Some(c) = e.cols.iter().flatten().find(|c| lower(&c.name) == lc) {
                return Some(c.clone());
            }
        }
        // a relation whose columns we do not know: attribute the reference
        // to it when it is the only such candidate
        let unknown: Vec<&&Entry> = candidates.iter().filter(|e| e.cols.is_none()).collect();
        if unknown.len() == 1 && (rel.is_some() || candidates.len() == 1) {
            let e = unknown[0];
            return Some(Col {
                name: col.to_string(),
                sources: e
                    .leaf
                    .iter()
                    .map(|uid| Source {
                        unique_id: uid.clone(),
                        column: col.to_string(),
                    })
                    .collect(),
                direct: e.leaf.is_some(),
            });
        }
    }
    if rel.is_none() {
        if let Some(c) = earlier.iter().rev().find(|c| lower(&c.name) == lc) {
            return Some(c.clone());
        }
    }
    None
}

/// The lineage of the statement in `tree` (one SELECT). `output_names` —
/// the relation's real column names, when known — replace the names found
/// in the SQL when there are as many (DuckDB names unaliased expressions in
/// ways not worth re-implementing).
pub fn lineage(
    tree: &Value,
    rels: &Relations,
    depends_on: &[String],
    output_names: Option<&[String]>,
) -> Result<Vec<ColumnLineage>, String> {
    let statements = tree
        .get("statements")
        .and_then(Value::as_array)
        .ok_or("no statements in the parse tree")?;
    let [statement] = statements.as_slice() else {
        return Err(format!(
            "expected one statement, found {}",
            statements.len()
        ));
    };
    let mut w = Walker {
        rels,
        depends_on,
        depth: 0,
    };
    let cols = w.query(statement, &Vec::new(), &[])?;
    let names: Option<&[String]> = output_names.filter(|n| n.len() == cols.len());
    Ok(cols
        .into_iter()
        .enumerate()
        .map(|(i, c)| ColumnLineage {
            name: names
                .map(|n| n[i].clone())
                .filter(|n| !n.is_empty())
                .unwrap_or(c.name),
            sources: c.sources.into_iter().collect(),
            direct: c.direct,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rels() -> Relations {
        let mut r = Relations::new("wh", "main");
        let cols = |c: &[&str]| Some(c.iter().map(|s| s.to_string()).collect());
        r.add(
            "wh",
            "main",
            "orders",
            "model.p.orders",
            cols(&["order_id", "customer_id", "amount", "status"]),
        );
        r.add(
            "wh",
            "main",
            "customers",
            "seed.p.customers",
            cols(&["id", "name"]),
        );
        r.add("wh", "raw", "events", "source.p.raw.events", None);
        r.add_ephemeral("eph", "model.p.eph");
        r
    }

    fn run(sql: &str) -> Vec<(String, Vec<String>, bool)> {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        let tree = parse_tree(&conn, sql).unwrap();
        lineage(&tree, &rels(), &[], None)
            .unwrap()
            .into_iter()
            .map(|c| {
                (
                    c.name,
                    c.sources
                        .iter()
                        .map(|s| format!("{}.{}", s.unique_id, s.column))
                        .collect(),
                    c.direct,
                )
            })
            .collect()
    }

    fn one(v: &[(String, Vec<String>, bool)], name: &str) -> (Vec<String>, bool) {
        let c = v
            .iter()
            .find(|c| c.0 == name)
            .unwrap_or_else(|| panic!("{name} not in {v:?}"));
        (c.1.clone(), c.2)
    }

    #[test]
    fn direct_and_derived_through_ctes_and_joins() {
        let v = run(r#"with o as (select * from "wh"."main"."orders"),
               c as (select id as customer_id, name from wh.main.customers)
               select c.customer_id, c.name as customer_name,
                      sum(o.amount) * 2 as total, count(*) as n
               from c left join o on o.customer_id = c.customer_id
               group by all"#);
        assert_eq!(v.len(), 4);
        assert_eq!(
            one(&v, "customer_id"),
            (vec!["seed.p.customers.id".into()], true)
        );
        assert_eq!(
            one(&v, "customer_name"),
            (vec!["seed.p.customers.name".into()], true)
        );
        assert_eq!(
            one(&v, "total"),
            (vec!["model.p.orders.amount".into()], false)
        );
        assert_eq!(one(&v, "n"), (vec![], false));
    }

    #[test]
    fn stars_excludes_using_and_set_operations() {
        let v = run(
            "select * exclude (status) from orders join customers on customers.id = orders.customer_id",
        );
        let names: Vec<&str> = v.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["order_id", "customer_id", "amount", "id", "name"]);
        let v = run("select o.* from orders o join (select id as customer_id from customers) c using (customer_id)");
        assert_eq!(v.len(), 4);
        let v = run("select * from orders join (select id as customer_id, name from customers) c using (customer_id)");
        let names: Vec<&str> = v.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            names,
            ["order_id", "customer_id", "amount", "status", "name"]
        );
        let v = run("select order_id as x from orders union all select id from customers");
        assert_eq!(
            one(&v, "x"),
            (
                vec![
                    "model.p.orders.order_id".into(),
                    "seed.p.customers.id".into()
                ],
                false
            )
        );
    }

    #[test]
    fn scalar_subqueries_aliases_and_unknown_relations() {
        let v = run(
            "select c.id, (select sum(amount) from orders o where o.customer_id = c.id) as ltv,
                    upper(name) as up, up || '!' as shout
             from customers c",
        );
        assert_eq!(
            one(&v, "ltv"),
            (vec!["model.p.orders.amount".into()], false)
        );
        assert_eq!(one(&v, "up"), (vec!["seed.p.customers.name".into()], false));
        assert_eq!(
            one(&v, "shout"),
            (vec!["seed.p.customers.name".into()], false)
        );
        let v = run("select e.kind, payload->>'x' as x from raw.events e");
        assert_eq!(
            one(&v, "kind"),
            (vec!["source.p.raw.events.kind".into()], true)
        );
        assert_eq!(
            one(&v, "x"),
            (vec!["source.p.raw.events.payload".into()], false)
        );
        let v = run("select a from other.tbl");
        assert_eq!(one(&v, "a"), (vec!["relation:wh.other.tbl.a".into()], true));
        // a relation two nodes share: the model's dependency wins
        let mut r = rels();
        r.add("wh", "main", "customers", "source.p.shop.customers", None);
        let conn = duckdb::Connection::open_in_memory().unwrap();
        let tree = parse_tree(&conn, "select id from customers").unwrap();
        let first = lineage(&tree, &r, &[], None).unwrap();
        assert_eq!(first[0].sources[0].unique_id, "seed.p.customers");
        let dep = ["source.p.shop.customers".to_string()];
        let chosen = lineage(&tree, &r, &dep, None).unwrap();
        assert_eq!(chosen[0].sources[0].unique_id, "source.p.shop.customers");
        assert_eq!(one(&v, "a"), (vec!["relation:wh.other.tbl.a".into()], true));
    }

    #[test]
    fn ephemeral_ctes_are_their_model() {
        let v = run(
            "with __dbt__cte__eph as (select customer_id, count(*) as n from orders group by 1)
             select c.id, e.n from customers c join __dbt__cte__eph e on e.customer_id = c.id",
        );
        assert_eq!(one(&v, "n"), (vec!["model.p.eph.n".into()], true));
    }

    #[test]
    fn output_names_and_errors() {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        let tree = parse_tree(&conn, "select order_id + 1, amount from orders").unwrap();
        let names = vec!["(order_id + 1)".to_string(), "amount".to_string()];
        let l = lineage(&tree, &rels(), &[], Some(&names)).unwrap();
        assert_eq!(l[0].name, "(order_id + 1)");
        assert!(parse_tree(&conn, "selec nope").is_err());
        let tree = parse_tree(&conn, "select 1; select 2").unwrap();
        assert!(lineage(&tree, &rels(), &[], None)
            .unwrap_err()
            .contains("one statement"));
    }
}
