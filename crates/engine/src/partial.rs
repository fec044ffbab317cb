//! Partial parsing: what parsing learned about each model, kept in
//! `target/partial_parse.json` so that a run over an unchanged project does
//! not render every model again (dbt's `partial_parse.msgpack`,
//! <https://docs.getdbt.com/reference/parsing#partial-parsing>).
//!
//! Correctness first: the state is used only when everything global is the
//! same as when it was written — Tarmac's version, the loaded project
//! (dbt_project.yml after rendering, vars included), the target (but its
//! thread count), `--vars`, `--full-refresh` and every macro file. Anything
//! else changed means a full parse. Per model, the cached result (its
//! `config()` calls, refs and sources) is reused only when the file's
//! checksum, its properties entry and every environment variable it read
//! are unchanged; schema, alias and database are reused only when the
//! model's final config is too. Properties files are re-parsed only when
//! their checksum changed. Not covered (as in dbt): a model whose parse
//! result depends on `run_started_at`, `invocation_id` or `flags.WHICH`.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::config::Config;
use crate::jinja::RunInfo;

/// Bump when the layout or the meaning of the state changes.
pub const FORMAT: u32 = 3;

use crate::builtins::EnvReads;

/// The saved state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    pub tarmac_version: String,
    /// Hash of everything global (see the module docs).
    pub key: String,
    /// By `original_file_path`.
    pub models: HashMap<String, ModelEntry>,
    /// Properties files by path relative to the project: checksum and document.
    pub yaml: HashMap<String, YamlEntry>,
}

/// What parsing one model produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelEntry {
    /// sha256 of the file.
    pub checksum: String,
    /// Hash of the model's properties entry (none: "").
    pub props: String,
    /// What `{{ config() }}` calls set.
    pub file_config: Config,
    pub refs: Vec<(Option<String>, String)>,
    pub sources: Vec<(String, String)>,
    /// Environment variables read while rendering and naming the model.
    pub env: EnvReads,
    /// The final config and the names `generate_*_name` gave for it.
    pub config: Config,
    pub names: Option<(String, String, String)>,
    /// The macros the model calls itself (`depends_on.macros`).
    #[serde(default)]
    pub macros: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct YamlEntry {
    pub checksum: String,
    pub doc: serde_json::Value,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// sha256 of a value's JSON text, written straight into the hasher: a
/// fingerprint of parsed properties without building their text first
/// (each model's properties are fingerprinted on every parse, changed or
/// not).
pub fn sha256_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    struct Feed(sha2::Sha256);
    impl std::io::Write for Feed {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.update(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut feed = Feed(sha2::Sha256::new());
    // writing into a hasher cannot fail; a value that cannot serialize
    // hashes as what was written before it failed, which is still stable
    let _ = serde_json::to_writer(&mut feed, v);
    hex::encode(feed.0.finalize())
}

/// Hash of the global inputs: any change means a full parse.
pub fn global_key(info: &RunInfo, macro_files: &[crate::macros::MacroFile]) -> String {
    let mut h = sha2::Sha256::new();
    let mut feed = |label: &str, text: &str| feed_labelled(&mut h, label, text);
    feed_globals(&mut feed, info);
    for f in macro_files {
        feed("macro package", &f.package);
        feed("macro path", &f.path);
        feed("macro", &f.text);
    }
    hex::encode(h.finalize())
}

/// One labelled input into a hash, its length first, so that no two lists
/// of inputs feed the same bytes.
fn feed_labelled(h: &mut sha2::Sha256, label: &str, text: &str) {
    h.update(label.as_bytes());
    h.update((text.len() as u64).to_le_bytes());
    h.update(text.as_bytes());
}

/// Everything global but the macros: the version, the loaded projects,
/// the target (but its thread count), the vars and the run flags parsing
/// reads.
fn feed_globals(feed: &mut dyn FnMut(&str, &str), info: &RunInfo) {
    feed("version", env!("CARGO_PKG_VERSION"));
    feed("format", &FORMAT.to_string());
    feed("project", &format!("{:?}", info.project));
    // installed packages: their dbt_project.yml (paths, configs, vars)
    for p in &info.packages {
        feed(
            "package",
            &format!(
                "{:?}",
                (
                    &p.name,
                    &p.root,
                    &p.file_vars,
                    &p.models_config,
                    &p.seeds_config,
                    &p.snapshots_config,
                    &p.tests_config,
                    &p.model_paths,
                    &p.macro_paths
                )
            ),
        );
    }
    let t = &info.target;
    feed(
        "target",
        &format!(
            "{:?}",
            (
                &t.name,
                &t.profile_name,
                &t.path,
                &t.database,
                &t.schema,
                &t.extensions,
                &t.settings,
                &t.attach,
                &t.config_options
            )
        ),
    );
    feed(
        "vars",
        &serde_json::to_string(&info.vars).unwrap_or_default(),
    );
    feed("full_refresh", &info.full_refresh.to_string());
}

/// Whether every environment variable still has the value seen.
pub fn env_unchanged(reads: &EnvReads) -> bool {
    reads
        .iter()
        .all(|(k, v)| std::env::var(k).ok().as_deref() == v.as_deref())
}

/// Read the state when it exists, parses and matches `key`; else None.
pub fn load(path: &Path, key: &str) -> Option<State> {
    let text = std::fs::read(path).ok()?;
    let state: State = match serde_json::from_slice(&text) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("partial parse: ignoring {}: {e}", path.display());
            return None;
        }
    };
    if state.format != FORMAT || state.tarmac_version != env!("CARGO_PKG_VERSION") {
        return None;
    }
    if state.key != key {
        tracing::debug!("partial parse: project, profile, vars or macros changed: full parse");
        return None;
    }
    Some(state)
}

/// Write the state atomically (a temporary file renamed over the old one):
/// a concurrent or killed run leaves the old state or the new one, never half.
pub fn save(path: &Path, state: &State) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    let text = serde_json::to_vec(state).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The unchanged-project stamp: a `tarmac parse` that finds every input
/// as the last parse left it reuses that parse's `manifest.json`, with new
/// metadata, instead of building the same document again. Partial parsing
/// (above) still reads, checks and assembles every node, and serializing
/// them was a third of such a parse; this is dbt's partial parsing taken to
/// its end for the one command whose whole output is the manifest.
///
/// The inputs are the globals of [`global_key`] (version, projects,
/// target, vars, `--full-refresh`), `--store-failures`, the content of
/// every file under every path of every project (models, seeds, snapshots,
/// tests, analyses and macros, whatever their extension), and every
/// environment variable any render read, with its value. The manifest is
/// reused only while its size and modification time are what this parse
/// wrote: `compile`, `run` or a hand edit rewrite it, and then the next
/// parse is a (partial) parse again. Not covered, as in partial parsing: a
/// parse result that depends on `run_started_at` or `invocation_id`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Stamp {
    pub format: u32,
    pub tarmac_version: String,
    /// [`inputs_key`] of the parse that wrote the manifest.
    pub inputs: String,
    /// Every environment variable read while loading, with its value.
    pub env: EnvReads,
    /// The manifest as written: length and modification time (ns).
    pub manifest_len: u64,
    pub manifest_mtime_ns: u64,
    /// What the parse reported: its warnings and the counts of its line.
    pub warnings: Vec<String>,
    pub counts: Vec<(String, usize)>,
}

/// The stamp's file, beside `partial_parse.json`.
pub const STAMP_FILE: &str = "parse_stamp.json";

/// Hash of every input of a parse but the environment (see [`Stamp`]).
/// Files are read and hashed on all cores.
pub fn inputs_key(info: &RunInfo) -> crate::error::Result<String> {
    inputs_scanned(info, false).map(|(key, _)| key)
}

/// What makes a render differ from one run to the next with every file
/// unchanged: the run's own time and id, Python's modules (`datetime.now`),
/// and what prints rather than renders (`log`, `print`,
/// `exceptions.warn`). Matched as whole words anywhere in a SQL or YAML
/// file, SQL text included: a false match (a SQL `log(x)`) only costs a
/// compile its reuse.
const VOLATILE: &str = r"(?-u:\b)(run_started_at|invocation_id|modules|log|print|warn)(?-u:\b)";

/// [`inputs_key`], and with `scan` whether any SQL or YAML file among the
/// inputs names one of [`VOLATILE`]'s words (see `crate::compile_stamp`).
/// The built-in macros are not inputs: none of them is volatile at compile.
pub fn inputs_scanned(info: &RunInfo, scan: bool) -> crate::error::Result<(String, bool)> {
    static WORDS: std::sync::LazyLock<regex::bytes::Regex> = std::sync::LazyLock::new(|| {
        regex::bytes::Regex::new(VOLATILE).expect("the volatile words' pattern is valid")
    });
    let volatile_file = |abs: &Path, bytes: &[u8]| {
        scan && abs
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "sql" | "yml" | "yaml"))
            && WORDS.is_match(bytes)
    };
    let mut volatile = false;
    let mut h = sha2::Sha256::new();
    feed_globals(&mut |l, t| feed_labelled(&mut h, l, t), info);
    feed_labelled(&mut h, "store_failures", &info.store_failures.to_string());
    let projects = std::iter::once(&info.project).chain(&info.packages);
    for p in projects {
        let mut dirs: Vec<&String> = p
            .model_paths
            .iter()
            .chain(&p.seed_paths)
            .chain(&p.snapshot_paths)
            .chain(&p.test_paths)
            .chain(&p.analysis_paths)
            .chain(&p.macro_paths)
            .collect();
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            let files = crate::manifest::walk_where(&p.root.join(d), |_| true)?;
            let sums = crate::par::map(&files, |(abs, _)| {
                std::fs::read(abs)
                    .map(|b| (sha256_hex(&b), volatile_file(abs, &b)))
                    .map_err(|e| crate::error::Error::io(abs, e))
            });
            for ((_, rel), sum) in files.iter().zip(sums) {
                let (sum, v) = sum?;
                volatile |= v;
                feed_labelled(&mut h, "file", &format!("{}:{d}/{rel}", p.name));
                feed_labelled(&mut h, "sha256", &sum);
            }
        }
    }
    Ok((hex::encode(h.finalize()), volatile))
}

/// Length and modification time (ns since the epoch) of a file.
pub fn file_stamp(path: &Path) -> Option<(u64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    let t = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some((m.len(), u64::try_from(t.as_nanos()).ok()?))
}

impl Stamp {
    /// The stamp at `path` when it holds for `inputs` and `manifest`:
    /// same version, same inputs, every environment variable as read, and
    /// the manifest as written.
    pub fn load_valid(path: &Path, inputs: &str, manifest: &Path) -> Option<Stamp> {
        let text = std::fs::read(path).ok()?;
        let s: Stamp = serde_json::from_slice(&text).ok()?;
        let fresh = s.format == FORMAT
            && s.tarmac_version == env!("CARGO_PKG_VERSION")
            && s.inputs == inputs
            && env_unchanged(&s.env)
            && file_stamp(manifest) == Some((s.manifest_len, s.manifest_mtime_ns));
        fresh.then_some(s)
    }

    /// Writes the stamp atomically, as [`save`] writes the state.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        std::fs::write(
            &tmp,
            serde_json::to_vec(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use crate::{artifacts, load, Command, Options};

    /// A copy of the jaffle fixture in a temporary folder, with one more
    /// model whose SQL is `model_sql` (it reads an environment variable).
    fn jaffle_with(model_sql: &str) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("jaffle");
        testkit::copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jaffle"),
            &dir,
        );
        std::fs::write(dir.join("models/staging/env_model.sql"), model_sql).unwrap();
        (tmp, dir)
    }

    fn opts(dir: &Path, partial: bool, vars: Option<&str>) -> Options {
        Options {
            project_dir: Some(dir.to_path_buf()),
            profiles_dir: Some(dir.to_path_buf()),
            vars: vars.map(String::from),
            no_partial_parse: !partial,
            ..Default::default()
        }
    }

    /// The parsed project as manifest.json shows it (without its metadata),
    /// and how many files were parsed again.
    fn parsed(dir: &Path, partial: bool, vars: Option<&str>) -> (serde_json::Value, Option<usize>) {
        let l = load(&opts(dir, partial, vars), Command::Compile).unwrap();
        let mut v = artifacts::manifest_json(&l.manifest, &l.dag, &BTreeMap::new());
        v.as_object_mut().unwrap().remove("metadata");
        (v, l.manifest.reparsed)
    }

    fn edit(path: PathBuf, from: &str, to: &str) {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{} lacks {from:?}", path.display());
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// The two tests below set environment variables their models read,
    /// and a parse records every variable any render of the process reads
    /// (`record_all_env`): run at once, one test's variable, changed,
    /// would void the other's stamp. They take turns.
    pub(crate) static ENV_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// After each kind of change, a partial parse gives what a full parse
    /// gives, and parses again only what it must.
    #[test]
    fn partial_parse_matches_full_parse() {
        let _turn = ENV_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let (_tmp, dir) = jaffle_with(
            "{{ config(alias=env_var('TARMAC_PP_TEST_ALIAS', 'env_default')) }}\nselect 1 as one\n",
        );
        let check = |what: &str, vars: Option<&str>, max_reparsed: usize| {
            let (full, none) = parsed(&dir, false, vars);
            assert_eq!(none, None);
            let (part, reparsed) = parsed(&dir, true, vars);
            assert_eq!(
                part, full,
                "after {what}: partial parse differs from a full parse"
            );
            let reparsed = reparsed.unwrap();
            assert!(
                reparsed <= max_reparsed,
                "after {what}: {reparsed} files parsed again, expected at most {max_reparsed}"
            );
            // and once more from the state just written: nothing to parse
            let (again, reparsed) = parsed(&dir, true, vars);
            assert_eq!(again, full, "after {what}: second partial parse differs");
            assert_eq!(
                reparsed,
                Some(0),
                "after {what}: unchanged project parsed again"
            );
        };
        check("no state", None, usize::MAX);
        assert!(dir.join("target/partial_parse.json").exists());
        // a model: a new ref and a config() call
        edit(
            dir.join("models/staging/stg_payments.sql"),
            "select",
            "{{ config(tags=['pp']) }}\n-- {{ ref('stg_orders') }}\nselect",
        );
        check("a model edit", None, 1);
        // a properties file: a config and a description
        edit(
            dir.join("models/staging/schema.yml"),
            "      materialized: view",
            "      materialized: table\n    description: Payments, edited.",
        );
        check("a YAML edit", None, 2);
        // a macro: everything is parsed again
        edit(
            dir.join("macros/cents_to_dollars.sql"),
            "\"gift_card\"",
            "\"gift_card\", \"voucher\"",
        );
        check("a macro edit", None, usize::MAX);
        // a var given on the command line
        check("--vars", Some("{min_order_date: '2019-01-01'}"), usize::MAX);
        // an environment variable a model reads: only that model again
        std::env::set_var("TARMAC_PP_TEST_ALIAS", "env_alias");
        check(
            "an env var change",
            Some("{min_order_date: '2019-01-01'}"),
            1,
        );
        let (v, _) = parsed(&dir, true, Some("{min_order_date: '2019-01-01'}"));
        assert_eq!(v["nodes"]["model.jaffle.env_model"]["alias"], "env_alias");
        // a new model and a deleted one
        std::fs::write(
            dir.join("models/staging/new_model.sql"),
            "select 2 as two\n",
        )
        .unwrap();
        std::fs::remove_file(dir.join("models/staging/env_model.sql")).unwrap();
        check(
            "a new and a deleted model",
            Some("{min_order_date: '2019-01-01'}"),
            1,
        );
        // a data test's config that changes its names: the file, and the
        // model whose properties entry changed, parsed again
        edit(
            dir.join("models/staging/schema.yml"),
            "        tests: [unique]",
            "        tests:\n          - unique:\n              config: {schema: audited, alias: uniq_order}",
        );
        check(
            "a test's naming config",
            Some("{min_order_date: '2019-01-01'}"),
            2,
        );
        // the tests' schema from an environment variable, read by the
        // project's generate_schema_name: a change names them again
        std::fs::write(
            dir.join("macros/schema_names.sql"),
            "{% macro generate_schema_name(custom, node) -%}\n\
             {%- if node.resource_type == 'test' -%}{{ env_var('TARMAC_PP_TEST_SCHEMA', 'tests') }}\n\
             {%- elif custom is none -%}{{ target.schema }}{%- else -%}{{ custom | trim }}{%- endif -%}\n\
             {%- endmacro %}\n",
        )
        .unwrap();
        check(
            "a generate_schema_name macro",
            Some("{min_order_date: '2019-01-01'}"),
            usize::MAX,
        );
        std::env::set_var("TARMAC_PP_TEST_SCHEMA", "tests_from_env");
        check(
            "an env var the test names read",
            Some("{min_order_date: '2019-01-01'}"),
            0,
        );
        let (v, _) = parsed(&dir, true, Some("{min_order_date: '2019-01-01'}"));
        let test_schemas: Vec<&serde_json::Value> = v["nodes"]
            .as_object()
            .unwrap()
            .values()
            .filter(|n| n["resource_type"] == "test")
            .map(|n| &n["schema"])
            .collect();
        assert!(!test_schemas.is_empty());
        assert!(
            test_schemas.iter().all(|s| *s == "tests_from_env"),
            "{test_schemas:?}"
        );
        std::env::remove_var("TARMAC_PP_TEST_SCHEMA");
        // dbt_project.yml
        edit(
            dir.join("dbt_project.yml"),
            "+tags: [\"staging\"]",
            "+tags: [\"stg\"]",
        );
        check(
            "dbt_project.yml",
            Some("{min_order_date: '2019-01-01'}"),
            usize::MAX,
        );
        // a corrupt state is ignored
        std::fs::write(dir.join("target/partial_parse.json"), "{not json").unwrap();
        check(
            "a corrupt state",
            Some("{min_order_date: '2019-01-01'}"),
            usize::MAX,
        );
    }

    /// The manifest of `tarmac parse` without its metadata, and whether the
    /// last one was kept.
    fn parse_cmd(dir: &Path, partial: bool, vars: Option<&str>) -> (serde_json::Value, bool) {
        let parsed = crate::parse(&opts(dir, partial, vars)).unwrap();
        let text = std::fs::read_to_string(dir.join("target/manifest.json")).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let meta = v.as_object_mut().unwrap().remove("metadata").unwrap();
        assert_eq!(
            meta["dbt_schema_version"],
            "https://schemas.getdbt.com/dbt/manifest/v12.json"
        );
        (v, parsed.manifest_kept)
    }

    /// A parse that finds nothing changed keeps the last manifest (new
    /// metadata, same document); any change of an input parses again and
    /// gives what a full parse gives.
    #[test]
    fn unchanged_project_keeps_its_manifest() {
        let _turn = ENV_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let (_tmp, dir) =
            jaffle_with("select '{{ env_var('TARMAC_STAMP_TEST', 'unset') }}' as v\n");
        let invocation = |dir: &Path| {
            let text = std::fs::read_to_string(dir.join("target/manifest.json")).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            v["metadata"]["invocation_id"].as_str().unwrap().to_string()
        };
        // after each change: parsed again, equal to a full parse; then kept
        let check = |what: &str, vars: Option<&str>| {
            let (part, kept) = parse_cmd(&dir, true, vars);
            assert!(!kept, "after {what}: the old manifest was kept");
            let before = invocation(&dir);
            let (again, kept) = parse_cmd(&dir, true, vars);
            assert!(kept, "after {what}: nothing changed, yet parsed again");
            assert_eq!(again, part, "after {what}: the kept manifest differs");
            assert_ne!(
                invocation(&dir),
                before,
                "after {what}: metadata not renewed"
            );
            let (full, kept) = parse_cmd(&dir, false, vars);
            assert!(!kept);
            assert_eq!(part, full, "after {what}: differs from a full parse");
            // the full parse rewrote the manifest: the stamp no longer holds
            let (_, kept) = parse_cmd(&dir, true, vars);
            assert!(!kept, "after {what}: a rewritten manifest was kept");
        };
        check("no state", None);
        edit(
            dir.join("models/staging/stg_payments.sql"),
            "select",
            "-- edited\nselect",
        );
        check("a model edit", None);
        edit(
            dir.join("models/staging/schema.yml"),
            "One row per customer.",
            "Customers.",
        );
        check("a YAML edit", None);
        std::fs::write(
            dir.join("macros/other.sql"),
            "{% macro other() %}1{% endmacro %}\n",
        )
        .unwrap();
        check("a new macro file", None);
        std::fs::write(dir.join("seeds/raw_extra.csv"), "a,b\n1,2\n").unwrap();
        check("a new seed", None);
        check("--vars", Some("{min_order_date: '2019-01-01'}"));
        std::env::set_var("TARMAC_STAMP_TEST", "set");
        check("an environment variable a model reads", None);
        // the kept manifest was rewritten by another command
        let (_, kept) = parse_cmd(&dir, true, None);
        assert!(kept);
        let path = dir.join("target/manifest.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("Customers.", "Changed.")).unwrap();
        let (v, kept) = parse_cmd(&dir, true, None);
        assert!(!kept, "a manifest edited since was kept");
        assert!(!v.to_string().contains("Changed."));
    }
}
