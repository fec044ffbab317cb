//! Tarmac's documentation catalog: `docs generate` compiles the project
//! with the engine and writes dbt's `manifest.json` and `catalog.json`,
//! Tarmac's `column_lineage.json` and a static site into `target/`;
//! `docs serve` serves the same site from the binary, reading `target/`
//! afresh whenever its artifacts change. Not for: building models (the
//! engine) or argument parsing (the binary).
//!
//! Flow: engine (parse, compile) → [`docs`] (resolve `doc()`) → manifest.json
//! → [`catalog`] (DuckDB's own catalog) → catalog.json → [`lineage`]
//! (compiled SQL parsed by DuckDB) → column_lineage.json → [`site`] (index +
//! pages) → [`server`] or the static files.

use warehouse::duckdb;
pub mod catalog;
pub mod docs;
pub mod error;
pub mod lineage;
pub mod server;
pub mod site;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dbt_artifacts::Catalog;
use serde_json::{json, Value};

pub use error::{Error, Result};

/// The web app, compiled into the binary (no CDN: it must work offline).
pub mod assets {
    pub const INDEX_HTML: &str = include_str!("assets/index.html");
    pub const APP_JS: &str = include_str!("assets/app.js");
    pub const APP_CSS: &str = include_str!("assets/app.css");
}

/// What `docs generate` did.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub target: PathBuf,
    /// Nodes and sources in catalog.json.
    pub catalog_nodes: usize,
    pub catalog_sources: usize,
    /// Nodes of the manifest with no relation in the warehouse yet.
    pub not_built: Vec<String>,
    /// Nodes whose SQL did not compile (node, message).
    pub compile_errors: Vec<(String, String)>,
    /// Models whose column lineage could not be worked out (node, reason).
    pub lineage_errors: Vec<(String, String)>,
    pub elapsed: f64,
    /// Nothing had changed since the last `docs generate`: its compiled
    /// files and manifest.json were kept (engine::compile_stamp).
    pub kept: bool,
}

/// `tarmac docs generate`: compile, then write manifest.json, catalog.json,
/// column_lineage.json and the static site into the project's target/.
/// run_results.json is left alone, so the site keeps showing the last
/// build's and tests' results (dbt overwrites it with compile results).
pub fn generate(opts: &engine::Options) -> Result<Generated> {
    use engine::compile_stamp::{self, Kind};
    let t0 = Instant::now();
    let started = chrono::Utc::now();
    // A project whose every input is as the last `docs generate` left it
    // keeps that run's compiled files and manifest.json, with this run's
    // metadata (see engine::compile_stamp); the catalog, the lineage and
    // the site are made again, since the warehouse may have changed. Not
    // with a selection, whose nodes the catalog needs.
    let reuse = opts.select.is_empty()
        && opts.exclude.is_empty()
        && compile_stamp::eligible(opts, engine::Command::Compile);
    let info = engine::run_info(opts, engine::Command::Compile)?;
    let target = engine::results::target_dir_of(&info.project);
    let paths = compile_stamp::Paths::new(&target, Kind::Docs);
    let inputs = if reuse {
        let blocks = docs::blocks_key(&info.project.root, &docs::docs_paths(&info.project))?;
        Some(compile_stamp::inputs(&info, opts, &blocks)?)
    } else {
        None
    };
    let mut out = Generated {
        target,
        ..Default::default()
    };
    let kept = match &inputs {
        Some(i) if compile_stamp::may_keep(opts) => {
            compile_stamp::standing(&paths, i, &info.target)?
                .filter(|_| engine::artifacts::restamp_manifest(&paths.manifest, &info).is_ok())
        }
        _ => None,
    };
    let invocation_id = info.invocation_id.clone();
    let profile_target = info.target.clone();
    let chosen = match kept {
        Some(mut stamp) => {
            tracing::info!("docs generate: nothing changed since the last one, its compile kept");
            if let Err(e) = stamp.save(&paths) {
                tracing::debug!("docs generate: cannot write {}: {e}", paths.stamp.display());
            }
            out.kept = true;
            None
        }
        None => Some(compile_and_write(opts, info, inputs, &paths, &mut out, t0)?),
    };
    let (database, schema) = (
        profile_target.database.clone(),
        profile_target.schema.clone(),
    );
    let threads = profile_target.threads;
    let db = engine::open_db(&profile_target)?;
    let manifest_path = out.target.join("manifest.json");
    let manifest = dbt_artifacts::Manifest::read(&manifest_path)
        .map_err(|e| Error::Artifact {
            path: manifest_path.clone(),
            message: e.to_string(),
        })?
        .ok_or_else(|| Error::Artifact {
            path: manifest_path.clone(),
            message: "not found right after it was written".into(),
        })?;
    let ephemeral: Vec<(String, String)> = manifest
        .nodes
        .iter()
        .filter(|(_, n)| n.config.materialized.as_deref() == Some("ephemeral"))
        .map(|(id, n)| (n.name.clone(), id.clone()))
        .collect();
    tracing::info!(
        "docs generate: manifest read back at {:.2}s",
        t0.elapsed().as_secs_f64()
    );

    // catalog.json
    let selected = chosen
        .as_ref()
        .filter(|_| !opts.select.is_empty() || !opts.exclude.is_empty());
    let expected = catalog::expected(&manifest, selected);
    let relations =
        db.with_conn(|c| Ok(catalog::read_relations(c, &catalog::schemas(&expected))))??;
    let cat = catalog::build(
        &expected,
        &relations,
        catalog::metadata(&invocation_id, started),
    );
    out.catalog_nodes = cat.nodes.len();
    out.catalog_sources = cat.sources.len();
    out.not_built = expected
        .iter()
        .filter(|e| {
            !cat.nodes.contains_key(&e.unique_id) && !cat.sources.contains_key(&e.unique_id)
        })
        .map(|e| e.unique_id.clone())
        .collect();
    write_json(&out.target.join("catalog.json"), &cat)?;
    tracing::info!(
        "docs generate: catalog written at {:.2}s",
        t0.elapsed().as_secs_f64()
    );

    // column_lineage.json
    let all = catalog::expected(&manifest, None);
    let mut rels = lineage::Relations::new(&database, &schema);
    for e in &all {
        let section = if e.is_source {
            &cat.sources
        } else {
            &cat.nodes
        };
        let cols = section.get(&e.unique_id).map(|t| t.ordered_columns());
        rels.add(&e.database, &e.schema, &e.identifier, &e.unique_id, cols);
    }
    for (name, id) in &ephemeral {
        rels.add_ephemeral(name, id);
    }
    let previous: Option<Value> = std::fs::read_to_string(out.target.join("column_lineage.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let (lin, errors) = db.with_conn(|c| {
        Ok(column_lineage(
            c,
            threads,
            previous.as_ref(),
            &manifest,
            &cat,
            &rels,
        ))
    })?;
    out.lineage_errors = errors;
    write_json(&out.target.join("column_lineage.json"), &lin)?;
    tracing::info!(
        "docs generate: column lineage written at {:.2}s",
        t0.elapsed().as_secs_f64()
    );

    // the static site
    let artifacts = site::Artifacts {
        manifest,
        catalog: Some(cat),
        // only run_results.json: the rest is in memory (re-reading the
        // manifest cost a quarter of `docs generate` on 10,000 models)
        run_results: site::read_run_results(&out.target).ok().flatten(),
        lineage: Some(lin),
    };
    write_static_site(&out.target, &artifacts)?;
    out.elapsed = t0.elapsed().as_secs_f64();
    // a 10,000-model project is millions of small allocations: freed off
    // the critical path (the command exits right after)
    engine::drop_in_background(artifacts);
    Ok(out)
}

/// `docs generate`'s compile: load the project, compile the selected
/// nodes, write their SQL and manifest.json (doc blocks resolved), and the
/// stamp when the next run may keep all of it. Compile errors go to `out`.
/// The selected nodes come back; the loaded project is freed before the
/// manifest is read back (holding both was the command's peak memory, twice
/// the project's own on 10,000 models).
fn compile_and_write(
    opts: &engine::Options,
    info: engine::jinja::RunInfo,
    inputs: Option<engine::compile_stamp::Inputs>,
    paths: &engine::compile_stamp::Paths,
    out: &mut Generated,
    t0: Instant,
) -> Result<std::collections::BTreeSet<String>> {
    let mut l = engine::load_info(info, opts)?;
    let m = &l.manifest;
    tracing::info!(
        "docs generate: project loaded in {:.2}s",
        t0.elapsed().as_secs_f64()
    );
    let chosen = engine::select::select(
        m,
        &l.dag,
        &opts.select,
        &opts.exclude,
        opts.indirect_selection,
    )?;
    let db = engine::open_db(&m.info.target)?;
    if inputs.is_some() {
        db.watch();
    }
    let ropts = engine::results::RunOptions::quiet(engine::Command::Compile, m.info.target.threads);
    let results = engine::execute::run(m, &l.dag, &chosen, &db.shared(), &ropts)?;
    tracing::info!(
        "docs generate: compiled (SQL files written) in {:.2}s",
        t0.elapsed().as_secs_f64()
    );
    let all_ok = results
        .iter()
        .all(|r| r.status == engine::results::Status::Success);
    let mut results = results;
    let mut compiled: BTreeMap<String, String> = BTreeMap::new();
    for r in &mut results {
        match r.compiled_sql.take() {
            Some(sql) => {
                compiled.insert(r.unique_id.clone(), sql);
            }
            None if r.status == engine::results::Status::Error => out
                .compile_errors
                .push((r.unique_id.clone(), r.message.clone())),
            None => {}
        }
    }
    // doc() in descriptions resolved on the loaded project itself, so that
    // manifest.json streams from it as `parse` and `compile` write theirs
    let project = m.info.project.clone();
    let docs = docs::find_blocks(&project.root, &project.name, &docs::docs_paths(&project))?;
    docs.apply(&mut l.manifest)?;
    let m = &l.manifest;
    tracing::info!(
        "docs generate: doc blocks applied at {:.2}s",
        t0.elapsed().as_secs_f64()
    );
    let by_id: BTreeMap<&str, &str> = compiled
        .iter()
        .map(|(id, sql)| (id.as_str(), sql.as_str()))
        .collect();
    engine::artifacts::write_manifest(m, &l.dag, &by_id)?;
    drop(by_id);
    tracing::info!(
        "docs generate: manifest written at {:.2}s",
        t0.elapsed().as_secs_f64()
    );
    if let Some(inputs) = inputs {
        match engine::compile_stamp::keepable(&db, &inputs, m, &chosen, all_ok) {
            Some(lookups) => {
                let mut stamp = engine::compile_stamp::Stamp::new(inputs, lookups, paths);
                if let Err(e) = stamp.save(paths) {
                    tracing::debug!("docs generate: cannot write {}: {e}", paths.stamp.display());
                }
            }
            None => engine::compile_stamp::remove(paths),
        }
    }
    drop((results, compiled, l));
    Ok(chosen)
}

/// (node, its lineage or why not, the key of its inputs)
type LineageResult = (
    String,
    std::result::Result<Vec<lineage::ColumnLineage>, String>,
    String,
);

/// What a model's column lineage depends on: its SQL, its columns and its
/// parents' columns (a `*` expands to them).
fn lineage_key(sql: &str, names: Option<&[String]>, deps: &[String], cat: &Catalog) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(sql.as_bytes());
    h.update(b"\0");
    for n in names.unwrap_or_default() {
        h.update(n.as_bytes());
        h.update(b",");
    }
    for d in deps {
        h.update(b"\0");
        h.update(d.as_bytes());
        for c in cat
            .entry(d)
            .map(|t| t.ordered_columns())
            .unwrap_or_default()
        {
            h.update(b",");
            h.update(c.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// Column lineage of every compiled model and snapshot. Parsing is most of
/// the time, so the models are shared out over `threads` connections.
fn column_lineage(
    conn: &duckdb::Connection,
    threads: usize,
    previous: Option<&Value>,
    manifest: &dbt_artifacts::Manifest,
    cat: &Catalog,
    rels: &lineage::Relations,
) -> (Value, Vec<(String, String)>) {
    let work: Vec<(&String, &dbt_artifacts::manifest::Node)> = manifest
        .nodes
        .iter()
        .filter(|(_, n)| {
            matches!(n.resource_type.as_str(), "model" | "snapshot") && n.compiled_code.is_some()
        })
        .collect();
    let one = |parser: &mut lineage::Parser,
               id: &String,
               n: &dbt_artifacts::manifest::Node|
     -> LineageResult {
        let sql = n.compiled_code.as_deref().unwrap_or_default();
        let names: Option<Vec<String>> = cat.nodes.get(id).map(|t| t.ordered_columns());
        let deps = &n.depends_on.nodes;
        // the previous run's answer holds while its inputs are the same
        let key = lineage_key(sql, names.as_deref(), deps, cat);
        if let Some(prev) = previous
            .and_then(|p| p["nodes"].get(id))
            .filter(|p| p["key"].as_str() == Some(key.as_str()))
        {
            if let Ok(cols) =
                serde_json::from_value::<Vec<lineage::ColumnLineage>>(prev["columns"].clone())
            {
                return (id.clone(), Ok(cols), key);
            }
        }
        let r = parser
            .parse(sql)
            .and_then(|t| lineage::lineage(&t, rels, deps, names.as_deref()));
        (id.clone(), r, key)
    };
    let threads = threads.clamp(1, 16).min(work.len().max(1));
    let chunk = work.len().div_ceil(threads).max(1);
    let mut results: Vec<LineageResult> = Vec::with_capacity(work.len());
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for part in work.chunks(chunk) {
            let conn = conn.try_clone();
            let one = &one;
            handles.push(scope.spawn(move || -> Vec<LineageResult> {
                let conn = match conn {
                    Ok(c) => c,
                    Err(e) => {
                        return part
                            .iter()
                            .map(|(id, _)| ((*id).clone(), Err(e.to_string()), String::new()))
                            .collect()
                    }
                };
                match lineage::Parser::new(&conn) {
                    Ok(mut parser) => part.iter().map(|(id, n)| one(&mut parser, id, n)).collect(),
                    Err(e) => part
                        .iter()
                        .map(|(id, _)| ((*id).clone(), Err(e.clone()), String::new()))
                        .collect(),
                }
            }));
        }
        for h in handles {
            match h.join() {
                Ok(r) => results.extend(r),
                Err(_) => tracing::error!("a column lineage thread panicked"),
            }
        }
    });
    let mut nodes = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for (id, r, key) in results {
        match r {
            Ok(cols) => {
                nodes.insert(id, json!({ "columns": cols, "key": key }));
            }
            Err(e) => {
                errors.insert(id, e);
            }
        }
    }
    let list = errors.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    (
        json!({
            "metadata": {
                "generator": "tarmac",
                "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            },
            "nodes": nodes,
            "errors": errors,
        }),
        list,
    )
}

fn write_json(path: &Path, v: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::Artifact {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write(path, text.as_bytes())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// How many nodes' details one chunk of the static site holds: a page
/// loads one chunk, so this bounds what opening a page reads (about 1 MB
/// for 200 nodes of the generated 10,000-model project), while 10,000
/// nodes stay 50 files, not 10,000.
pub const CHUNK_SIZE: usize = 200;

/// `target/index.html` and `target/assets/`: the same app as `docs serve`.
/// `assets/data.js` holds the index (names, search words, the graph) and
/// `assets/data/<k>.js` the details of the nodes at index positions
/// `k * CHUNK_SIZE ..`, loaded when one of their pages is opened. Both are
/// scripts, not fetches, so the site also works opened as a file.
///
/// The details are built a chunk at a time and handed to a writer thread
/// (at most two chunks waiting), so a 10,000-model project's pages never
/// sit in memory together, and serializing overlaps building.
pub fn write_static_site(target: &Path, artifacts: &site::Artifacts) -> Result<()> {
    write(&target.join("index.html"), assets::INDEX_HTML.as_bytes())?;
    write(&target.join("assets/app.js"), assets::APP_JS.as_bytes())?;
    write(&target.join("assets/app.css"), assets::APP_CSS.as_bytes())?;
    write(&target.join("assets/tarmac.css"), web::CSS.as_bytes())?;
    // the chunks of this generation only: a larger project's old ones go
    let dir = target.join("assets/data");
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&dir, e)),
    }
    let write_chunk = |k: usize, details: &BTreeMap<String, Value>| {
        write_script(
            &dir.join(format!("{k}.js")),
            &format!("window.TARMAC_CHUNK({k}, "),
            details,
            ");\n",
        )
    };
    let (index, written) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, BTreeMap<String, Value>)>(2);
        let writer = scope.spawn(move || -> Result<()> {
            // every chunk is written even after a failure: the first error is kept
            let mut first = Ok(());
            for (k, details) in rx {
                let r = write_chunk(k, &details);
                if first.is_ok() {
                    first = r;
                }
            }
            first
        });
        let mut chunk = BTreeMap::new();
        let mut k = 0;
        let index = site::Site::build_each(artifacts, |id, d| {
            chunk.insert(id.to_string(), d);
            if chunk.len() == CHUNK_SIZE {
                // a closed channel means the writer is gone: its error is reported below
                let _ = tx.send((k, std::mem::take(&mut chunk)));
                k += 1;
            }
        });
        if !chunk.is_empty() {
            let _ = tx.send((k, chunk));
        }
        drop(tx);
        let written = writer.join().unwrap_or_else(|_| {
            Err(Error::Artifact {
                path: dir.clone(),
                message: "the site's writer thread panicked".into(),
            })
        });
        (index, written)
    });
    written?;
    /// Serialized in place (a `json!` copy of the site cost as much as
    /// writing it).
    #[derive(serde::Serialize)]
    struct Data<'a> {
        index: &'a Value,
        chunk_size: usize,
    }
    let data = Data {
        index: &index,
        chunk_size: CHUNK_SIZE,
    };
    write_script(
        &target.join("assets/data.js"),
        "window.TARMAC_DATA = ",
        &data,
        ";\n",
    )
}

/// A script that hands `value` to the page: `head`, the JSON, `tail`.
fn write_script<T: serde::Serialize>(path: &Path, head: &str, value: &T, tail: &str) -> Result<()> {
    let mut buf = head.as_bytes().to_vec();
    serde_json::to_writer(&mut buf, value).map_err(|e| Error::Artifact {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    buf.extend_from_slice(tail.as_bytes());
    write(path, &buf)
}

#[cfg(test)]
mod tests {
    //! `docs generate` end to end on the engine's jaffle fixture with the
    //! catalog's overlay (doc blocks, a source): catalog.json and
    //! column_lineage.json against golden files (`UPDATE_GOLDEN=1` rewrites
    //! them), with the volatile fields (times, invocation ids) normalised.
    use super::*;

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let name = e.file_name();
            if p.is_dir() {
                if name != "target" {
                    copy_dir(&p, &to.join(&name));
                }
            } else if !p.to_string_lossy().ends_with(".duckdb") && name != "README.md" {
                std::fs::copy(&p, to.join(&name)).unwrap();
            }
        }
    }

    /// The engine's jaffle fixture with the catalog's overlay, in a
    /// temporary folder with its own database, and options for it.
    fn jaffle_docs() -> (tempfile::TempDir, PathBuf, engine::Options) {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("jaffle");
        copy_dir(&ws.join("crates/engine/tests/fixtures/jaffle"), &dir);
        copy_dir(&ws.join("crates/catalog/tests/fixtures/jaffle_docs"), &dir);
        std::fs::write(
            dir.join("profiles.yml"),
            format!(
                "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n      schema: main\n      threads: 2\n",
                dir.join("jaffle.duckdb").display()
            ),
        )
        .unwrap();
        let opts = engine::Options {
            project_dir: Some(dir.clone()),
            profiles_dir: Some(dir.clone()),
            ..Default::default()
        };
        (t, dir, opts)
    }

    fn normalise(v: &mut Value) {
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["generated_at", "invocation_id", "invocation_started_at"] {
                if m.contains_key(k) {
                    m.insert(k.into(), json!("<volatile>"));
                }
            }
        }
    }

    fn golden(name: &str, v: &Value) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        let text = serde_json::to_string_pretty(v).unwrap() + "\n";
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "missing golden {} (UPDATE_GOLDEN=1 writes it)",
                path.display()
            )
        });
        assert!(
            want == text,
            "golden {name} differs (UPDATE_GOLDEN=1 rewrites it); got:\n{text}"
        );
    }

    #[test]
    fn generate_on_the_fixture_matches_golden_files() {
        let (_t, dir, opts) = jaffle_docs();
        // before anything is built: no relations yet, nothing in the catalog
        let g = generate(&opts).unwrap();
        assert_eq!(g.catalog_nodes, 0);
        assert!(g.not_built.contains(&"model.jaffle.orders".to_string()));
        // seeds first: the overlay's `order_statuses` reads seed raw_orders
        // through source `shop.orders`, which is no DAG edge (as in dbt), so
        // one build would race it against the seed
        let s = engine::execute(&opts, engine::Command::Seed).unwrap();
        assert!(s.ok(), "{s:?}");
        let s = engine::execute(&opts, engine::Command::Build).unwrap();
        assert!(s.ok(), "{s:?}");
        let g = generate(&opts).unwrap();
        assert!(g.compile_errors.is_empty(), "{:?}", g.compile_errors);
        assert!(g.lineage_errors.is_empty(), "{:?}", g.lineage_errors);
        assert!(g.not_built.is_empty(), "{:?}", g.not_built);
        let read = |f: &str| -> Value {
            serde_json::from_str(&std::fs::read_to_string(dir.join("target").join(f)).unwrap())
                .unwrap()
        };
        let mut cat = read("catalog.json");
        normalise(&mut cat);
        golden("jaffle_catalog.json", &cat);
        let mut lin = read("column_lineage.json");
        normalise(&mut lin);
        golden("jaffle_column_lineage.json", &lin);
        // doc() resolved in manifest.json, and the blocks listed
        let m = read("manifest.json");
        assert!(m["nodes"]["model.jaffle.order_statuses"]["description"]
            .as_str()
            .unwrap()
            .contains("| shipped | on its way |"));
        assert_eq!(
            m["docs"]["doc.jaffle.order_status"]["original_file_path"],
            "models/docs.md"
        );
        // run_results.json is the build's, not overwritten by generate
        let rr = read("run_results.json");
        assert_eq!(rr["args"]["which"], "build");
        // the static site
        let data = std::fs::read_to_string(dir.join("target/assets/data.js")).unwrap();
        let data: Value = serde_json::from_str(
            data.strip_prefix("window.TARMAC_DATA = ")
                .and_then(|d| d.strip_suffix(";\n"))
                .expect("data.js assigns TARMAC_DATA"),
        )
        .unwrap();
        assert_eq!(data["chunk_size"], CHUNK_SIZE);
        assert!(
            data.get("details").is_none(),
            "data.js holds the index only"
        );
        // every page's details are in the chunk its index position names
        let nodes = data["index"]["nodes"].as_array().unwrap();
        assert!(!nodes.is_empty());
        for (i, n) in nodes.iter().enumerate() {
            let k = i / CHUNK_SIZE;
            let chunk =
                std::fs::read_to_string(dir.join(format!("target/assets/data/{k}.js"))).unwrap();
            let head = format!("window.TARMAC_CHUNK({k}, ");
            let details: Value = serde_json::from_str(
                chunk
                    .strip_prefix(&head)
                    .and_then(|c| c.strip_suffix(");\n"))
                    .unwrap(),
            )
            .unwrap();
            let id = n["id"].as_str().unwrap();
            assert_eq!(details[id]["id"], id, "chunk {k} lacks {id}");
        }
        let chunks = nodes.len().div_ceil(CHUNK_SIZE);
        assert!(!dir.join(format!("target/assets/data/{chunks}.js")).exists());
        assert!(dir.join("target/index.html").is_file());
        // the stylesheet shared with the orchestrator, beside the pages
        assert_eq!(
            std::fs::read_to_string(dir.join("target/assets/tarmac.css")).unwrap(),
            web::CSS
        );

        // an unchanged model's lineage is taken from the previous run; a
        // changed key (SQL or columns) makes it computed again
        let path = dir.join("target/column_lineage.json");
        let mut lin = read("column_lineage.json");
        lin["nodes"]["model.jaffle.orders"]["columns"][0]["name"] = json!("from_cache");
        std::fs::write(&path, lin.to_string()).unwrap();
        generate(&opts).unwrap();
        let again = read("column_lineage.json");
        assert_eq!(
            again["nodes"]["model.jaffle.orders"]["columns"][0]["name"],
            "from_cache"
        );
        lin["nodes"]["model.jaffle.orders"]["key"] = json!("stale");
        std::fs::write(&path, lin.to_string()).unwrap();
        generate(&opts).unwrap();
        let again = read("column_lineage.json");
        assert_eq!(
            again["nodes"]["model.jaffle.orders"]["columns"][0]["name"],
            "order_id"
        );
    }

    /// A `docs generate` that finds every input as the last one left it
    /// keeps that one's compile and manifest.json; a doc block edited, or
    /// the manifest written by another command, means a compile again.
    #[test]
    fn unchanged_project_keeps_the_last_compile() {
        let (_t, dir, opts) = jaffle_docs();
        let manifest = || -> (Value, Value) {
            let text = std::fs::read_to_string(dir.join("target/manifest.json")).unwrap();
            let mut v: Value = serde_json::from_str(&text).unwrap();
            let meta = v.as_object_mut().unwrap().remove("metadata").unwrap();
            (v, meta)
        };
        let g = generate(&opts).unwrap();
        assert!(!g.kept);
        let (first, meta) = manifest();
        let again = generate(&opts).unwrap();
        assert!(again.kept);
        // the catalog is read afresh: nothing built, as before
        assert!(!again.not_built.is_empty());
        assert_eq!(again.not_built, g.not_built);
        let (second, meta2) = manifest();
        assert_eq!(first, second);
        assert_ne!(meta["invocation_id"], meta2["invocation_id"]);
        // a doc block edited: compiled again, with the new text
        let md = dir.join("models/docs.md");
        let text = std::fs::read_to_string(&md).unwrap();
        std::fs::write(&md, text.replace("on its way", "in transit")).unwrap();
        assert!(!generate(&opts).unwrap().kept);
        let (third, _) = manifest();
        assert!(third["nodes"]["model.jaffle.order_statuses"]["description"]
            .as_str()
            .unwrap()
            .contains("| shipped | in transit |"));
        assert!(generate(&opts).unwrap().kept);
        // a compile writes its own manifest.json (no doc blocks resolved)
        let s = engine::execute(&opts, engine::Command::Compile).unwrap();
        assert!(s.ok(), "{s:?}");
        assert!(!generate(&opts).unwrap().kept);
        assert_eq!(manifest().0, third);
    }
}
