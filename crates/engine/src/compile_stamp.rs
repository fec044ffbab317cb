//! Compile with nothing changed: a `tarmac compile` whose every input is
//! as the last compile left it keeps that compile's output (the SQL files
//! under `target/compiled`, `manifest.json`, `run_results.json`) and only
//! stamps the two artifacts with this invocation's metadata, instead of
//! parsing and rendering the same project into the same files again. It is
//! the parse stamp ([`crate::partial::Stamp`]) carried to the command whose
//! output is compiled SQL, and what "write only what changed" comes to
//! when nothing did.
//!
//! Compiled SQL depends on more than a parse does, so the stamp holds more:
//! - the inputs of [`crate::partial::inputs_key`] (every file of every
//!   project path, the loaded projects, the target, the vars), the
//!   command's options that change what is compiled or recorded, and
//!   `selectors.yml`;
//! - every environment variable read, with its value;
//! - every relation a render looked up in the database, with the answer
//!   (`is_incremental()` reads whether the model's table is there), checked
//!   again against the database; a compile that used the connection for
//!   anything else (`run_query`, `statement`, column lookups) writes no
//!   stamp ([`crate::db::Watch`]);
//! - the length and modification time of both artifacts and of every file
//!   under `target/compiled`, so that a file another command or a hand
//!   rewrote or removed means a real compile.
//!
//! No stamp is written when a SQL or YAML file names what differs from run
//! to run with the files unchanged (`run_started_at`, `invocation_id`,
//! `modules`) or prints while rendering (`log`, `print`,
//! `exceptions.warn`; see [`crate::partial::inputs_scanned`]), when a
//! selected model is a microbatch one (its batches follow the clock), when
//! any node did not compile cleanly, or for options that read other
//! artifacts (`--state`, `--defer`, `--sample`, event-time windows), or
//! under JSON logs (whose lines carry each node's details). A compile
//! under `--no-partial-parse` compiles everything, and writes a stamp the
//! next compile may keep.
//!
//! Not covered, as in dbt's partial parsing: a render that depends on
//! something the stamp cannot see and the words above do not name (a
//! file outside the project's paths read by a macro, say); `tarmac compile
//! --no-partial-parse` compiles everything.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::builtins::EnvReads;
use crate::db::{Db, Lookup};
use crate::error::Result;
use crate::jinja::RunInfo;
use crate::partial;

/// Bump when the layout or the meaning of the stamp changes.
pub const FORMAT: u32 = 3;

/// Which command's output a stamp stands for: `compile` (manifest.json,
/// run_results.json, the compiled files) or `docs generate` (its
/// manifest.json, whose descriptions have their `doc()` blocks resolved,
/// and the compiled files; it leaves run_results.json alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Compile,
    Docs,
}

impl Kind {
    /// The stamp's file, beside the artifacts it vouches for.
    pub fn file(self) -> &'static str {
        match self {
            Kind::Compile => "compile_stamp.json",
            Kind::Docs => "docs_stamp.json",
        }
    }
}

/// What a reused compile needs to stand for the compile that wrote it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Stamp {
    pub format: u32,
    pub tarmac_version: String,
    /// [`crate::partial::inputs_key`] and the options (see [`Inputs`]).
    pub inputs: String,
    /// Every environment variable read while loading and rendering.
    pub env: EnvReads,
    /// The relations the renders looked up, with the answers.
    pub lookups: Vec<Lookup>,
    /// Length and modification time (ns) of manifest.json and
    /// run_results.json as written.
    pub manifest: (u64, u64),
    pub run_results: Option<(u64, u64)>,
    /// Hash of every file under `target/compiled`: path, length, mtime.
    pub compiled: String,
    /// What the compile printed: the project's warnings, dbt's "Found"
    /// line, the node count of the "Concurrency" line, and how many nodes
    /// passed (for the summary a caller reads).
    pub warnings: Vec<String>,
    pub found: String,
    pub node_count: usize,
    pub pass: usize,
    /// The nodes whose compiled SQL the compile printed (`--select`'s
    /// interactive compile, see [`crate::compile::shown`]).
    pub shown: Vec<crate::compile::Shown>,
}

/// A compile's inputs, hashed before it loads anything (see the module
/// docs), and whether any input file is volatile.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub key: String,
    pub volatile: bool,
}

/// Whether `opts` are a compile a stamp can stand for. Call before the
/// project loads: a true answer starts recording every environment read.
/// Under `--no-partial-parse` a stamp is written but not read (see
/// [`may_keep`]).
pub fn eligible(opts: &crate::Options, command: crate::Command) -> bool {
    let ok = command == crate::Command::Compile
        && opts.progress.is_none()
        && opts.retry.is_none()
        && opts.state.is_none()
        && !opts.defer
        && opts.defer_state.is_none()
        && opts.sample.is_none()
        && opts.event_time_start.is_none()
        && opts.event_time_end.is_none()
        && !crate::logfmt::is_json();
    if ok {
        dbt_jinja::builtins::record_all_env();
    }
    ok
}

/// Whether a compile with `opts` may keep the last one's output: not when
/// told to parse everything (`--no-partial-parse`), which then compiles
/// everything too, and writes a stamp the next compile may keep.
pub fn may_keep(opts: &crate::Options) -> bool {
    !opts.no_partial_parse
}

/// The inputs of a compile of `info` with `opts` (options that change what
/// is selected, rendered or recorded are part of the key), and `extra`:
/// what else the command reads (`docs generate`: its doc blocks).
pub fn inputs(info: &RunInfo, opts: &crate::Options, extra: &str) -> Result<Inputs> {
    let (files, volatile) = partial::inputs_scanned(info, true)?;
    let options = serde_json::json!({
        "select": opts.select, "exclude": opts.exclude, "selector": opts.selector,
        "resource_types": opts.resource_types,
        "indirect_selection": opts.indirect_selection.as_str(),
        "full_refresh": opts.full_refresh, "store_failures": opts.store_failures,
        "empty": opts.empty, "fail_fast": opts.fail_fast, "target": opts.target,
        "threads": info.target.threads,
    });
    let mut h = sha2::Sha256::new();
    h.update(files.as_bytes());
    h.update(options.to_string().as_bytes());
    h.update(extra.as_bytes());
    // selectors.yml, whose `default: true` selector applies with no flag
    let selectors = std::fs::read(info.project.root.join("selectors.yml")).unwrap_or_default();
    h.update((selectors.len() as u64).to_le_bytes());
    h.update(&selectors);
    Ok(Inputs {
        key: hex::encode(h.finalize()),
        volatile,
    })
}

/// The paths of the stamp and of what it vouches for, under `target`.
pub struct Paths {
    pub stamp: PathBuf,
    pub manifest: PathBuf,
    /// None for a kind that does not write it.
    pub run_results: Option<PathBuf>,
    pub compiled: PathBuf,
}

impl Paths {
    pub fn new(target: &Path, kind: Kind) -> Paths {
        Paths {
            stamp: target.join(kind.file()),
            manifest: target.join("manifest.json"),
            run_results: (kind == Kind::Compile).then(|| target.join("run_results.json")),
            compiled: target.join("compiled"),
        }
    }
}

/// The relations a compile's renders looked up, when its output may be
/// kept by the next one: every node compiled cleanly, no input file is
/// volatile, no selected model is a microbatch one, and the connection was
/// asked nothing but relation lookups (see the module docs).
pub fn keepable(
    db: &Db,
    inputs: &Inputs,
    m: &crate::manifest::Manifest,
    chosen: &std::collections::BTreeSet<String>,
    all_ok: bool,
) -> Option<Vec<Lookup>> {
    let microbatch = chosen
        .iter()
        .filter_map(|id| m.nodes.get(id))
        .any(|n| crate::config::ConfigExt::materialized(&n.config) == "microbatch");
    let lookups = db.watch().lookups_only()?;
    (all_ok && !microbatch && !inputs.volatile).then_some(lookups)
}

/// The stamp under `paths` when it stands for a compile with `inputs`
/// ([`Stamp::load_valid`]) and every relation it looked up is as it was
/// in the database of `target`.
pub fn standing(
    paths: &Paths,
    inputs: &Inputs,
    target: &crate::project::Target,
) -> Result<Option<Stamp>> {
    let Some(stamp) = Stamp::load_valid(paths, inputs) else {
        return Ok(None);
    };
    // a compile opens the database even when no render asks it anything
    let db = crate::open_db(target)?;
    if !stamp.database_unchanged(&db) {
        tracing::debug!("compile: a relation a render looked up changed: compiling");
        return Ok(None);
    }
    Ok(Some(stamp))
}

/// Hash of every file under `dir` (its path, length and modification
/// time), stat'ed on all cores; None when one cannot be read.
pub fn fingerprint(dir: &Path) -> Option<String> {
    let files = crate::manifest::walk_where(dir, |_| true).ok()?;
    let stamps = crate::par::map(&files, |(abs, _)| partial::file_stamp(abs));
    let mut h = sha2::Sha256::new();
    for ((_, rel), s) in files.iter().zip(stamps) {
        let (len, mtime) = s?;
        h.update((rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        h.update(len.to_le_bytes());
        h.update(mtime.to_le_bytes());
    }
    Some(hex::encode(h.finalize()))
}

impl Stamp {
    /// A stamp for a compile with `inputs` whose renders looked up
    /// `lookups`, with the environment read so far and the compiled files
    /// as they are now; the artifacts are recorded by [`Stamp::save`].
    pub fn new(inputs: Inputs, lookups: Vec<Lookup>, paths: &Paths) -> Stamp {
        Stamp {
            format: FORMAT,
            tarmac_version: env!("CARGO_PKG_VERSION").to_string(),
            inputs: inputs.key,
            env: dbt_jinja::builtins::all_env_reads(),
            lookups,
            compiled: fingerprint(&paths.compiled).unwrap_or_default(),
            ..Default::default()
        }
    }

    /// The stamp under `paths` when it stands for a compile with `inputs`:
    /// same version and inputs, every environment variable as read, both
    /// artifacts and every compiled file as written. The relations it
    /// looked up are checked by [`Stamp::database_unchanged`].
    pub fn load_valid(paths: &Paths, inputs: &Inputs) -> Option<Stamp> {
        if inputs.volatile {
            return None;
        }
        let text = std::fs::read(&paths.stamp).ok()?;
        let s: Stamp = serde_json::from_slice(&text).ok()?;
        let fresh = s.format == FORMAT
            && s.tarmac_version == env!("CARGO_PKG_VERSION")
            && s.inputs == inputs.key
            && partial::env_unchanged(&s.env)
            && partial::file_stamp(&paths.manifest) == Some(s.manifest)
            && paths.run_results.as_deref().map(partial::file_stamp) == s.run_results.map(Some)
            && fingerprint(&paths.compiled).as_deref() == Some(s.compiled.as_str());
        fresh.then_some(s)
    }

    /// Whether every relation the compile looked up is still what it was.
    pub fn database_unchanged(&self, db: &Db) -> bool {
        self.lookups.iter().all(|l| {
            db.relation_kind(l.database.as_deref(), &l.schema, &l.identifier)
                .is_ok_and(|kind| kind == l.kind)
        })
    }

    /// Records the artifacts as now written and saves the stamp atomically
    /// (a temporary file renamed over the old one).
    pub fn save(&mut self, paths: &Paths) -> std::io::Result<()> {
        let missing = || std::io::Error::other("an artifact the stamp vouches for is missing");
        self.manifest = partial::file_stamp(&paths.manifest).ok_or_else(missing)?;
        self.run_results = match &paths.run_results {
            Some(p) => Some(partial::file_stamp(p).ok_or_else(missing)?),
            None => None,
        };
        let tmp = paths
            .stamp
            .with_extension(format!("json.tmp-{}", std::process::id()));
        std::fs::write(
            &tmp,
            serde_json::to_vec(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, &paths.stamp)
    }
}

/// Remove a stamp that no longer stands for the artifacts (a compile that
/// could not write one, or any other command writing them): missing is fine.
pub fn remove(paths: &Paths) {
    let _ = std::fs::remove_file(&paths.stamp);
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::{execute, Command, Options};

    /// A copy of the jaffle fixture whose profile names a database in the
    /// same temporary folder (no environment variable: other tests set
    /// theirs, and a compile records every variable read).
    fn jaffle() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("jaffle");
        testkit::copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jaffle"),
            &dir,
        );
        std::fs::write(
            dir.join("profiles.yml"),
            format!(
                "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {:?}\n      schema: main\n      threads: 2\n",
                tmp.path().join("jaffle.duckdb").display().to_string()
            ),
        )
        .unwrap();
        (tmp, dir)
    }

    /// A stamp records every environment variable any render of the
    /// process read, and the parse stamp's tests (and one below) set
    /// theirs: these tests take turns with them, or a variable changed by
    /// one voids another's stamp.
    fn env_turn() -> std::sync::MutexGuard<'static, ()> {
        crate::partial::tests::ENV_TESTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn opts(dir: &Path) -> Options {
        Options {
            project_dir: Some(dir.to_path_buf()),
            profiles_dir: Some(dir.to_path_buf()),
            ..Default::default()
        }
    }

    /// Compile; whether the last compile's output was kept.
    fn compile(o: &Options) -> bool {
        let s = execute(o, Command::Compile).unwrap();
        assert!(s.ok() && s.total > 0, "{s:?}");
        s.kept
    }

    /// Every file under target/compiled with its text.
    fn compiled(dir: &Path) -> Vec<(String, String)> {
        let root = dir.join("target/compiled");
        crate::manifest::walk_where(&root, |_| true)
            .unwrap()
            .into_iter()
            .map(|(abs, rel)| (rel, std::fs::read_to_string(abs).unwrap()))
            .collect()
    }

    /// An artifact without its metadata (which a kept compile renews), and
    /// the invocation id it names.
    fn artifact(dir: &Path, name: &str) -> (serde_json::Value, String) {
        let text = std::fs::read(dir.join("target").join(name)).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let id = v["metadata"]["invocation_id"].as_str().unwrap().to_string();
        v.as_object_mut().unwrap().remove("metadata");
        if let Some(results) = v.get_mut("results").and_then(|r| r.as_array_mut()) {
            for r in results {
                let r = r.as_object_mut().unwrap();
                r.remove("timing");
                r.remove("execution_time");
            }
            v.as_object_mut().unwrap().remove("elapsed_time");
        }
        (v, id)
    }

    #[test]
    fn unchanged_compile_keeps_the_same_output() {
        let _turn = env_turn();
        let (_t, dir) = jaffle();
        let o = opts(&dir);
        assert!(!compile(&o));
        let (files, manifest, results) = (
            compiled(&dir),
            artifact(&dir, "manifest.json"),
            artifact(&dir, "run_results.json"),
        );
        assert!(compile(&o), "nothing changed: the output is kept");
        assert_eq!(compiled(&dir), files);
        let (m2, r2) = (
            artifact(&dir, "manifest.json"),
            artifact(&dir, "run_results.json"),
        );
        assert_eq!(m2.0, manifest.0);
        assert_eq!(r2.0, results.0);
        // this run's own metadata, in both
        assert_ne!(m2.1, manifest.1);
        assert_eq!(m2.1, r2.1);
        // a kept compile leaves a stamp that stands again
        assert!(compile(&o));
        // and a compile with no partial parse compiles (and its output is
        // what was kept)
        let full = Options {
            no_partial_parse: true,
            ..opts(&dir)
        };
        assert!(!compile(&full));
        assert!(!compile(&full), "--no-partial-parse always compiles");
        assert_eq!(compiled(&dir), files);
        assert_eq!(artifact(&dir, "manifest.json").0, manifest.0);
        // whose stamp the next compile may keep
        assert!(compile(&o));
    }

    #[test]
    fn any_changed_input_or_output_compiles_again() {
        let _turn = env_turn();
        let (_t, dir) = jaffle();
        let o = opts(&dir);
        assert!(!compile(&o));
        assert!(compile(&o));
        // a model edited
        let model = dir.join("models/staging/stg_orders.sql");
        let text = std::fs::read_to_string(&model).unwrap();
        std::fs::write(&model, format!("{text}\n-- edited")).unwrap();
        assert!(!compile(&o));
        let file = dir.join("target/compiled/jaffle/models/staging/stg_orders.sql");
        assert!(std::fs::read_to_string(&file)
            .unwrap()
            .ends_with("-- edited"));
        assert!(compile(&o));
        // a compiled file removed, or written over
        std::fs::remove_file(&file).unwrap();
        assert!(!compile(&o));
        assert!(file.exists());
        std::fs::write(&file, "select 'hand edit'").unwrap();
        assert!(!compile(&o));
        assert!(std::fs::read_to_string(&file)
            .unwrap()
            .ends_with("-- edited"));
        // other options
        let one = Options {
            select: vec!["stg_orders".into()],
            ..opts(&dir)
        };
        assert!(!compile(&one));
        assert!(compile(&one));
        assert!(!compile(&o));
        // --vars
        let vars = Options {
            vars: Some("{a: 1}".into()),
            ..opts(&dir)
        };
        assert!(!compile(&vars));
        assert!(!compile(&o));
        // selectors.yml: a default selector applies with no flag
        let all = execute(&o, Command::Compile).unwrap().total;
        std::fs::write(
            dir.join("selectors.yml"),
            "selectors:\n  - name: one\n    default: true\n    definition: stg_orders\n",
        )
        .unwrap();
        let s = execute(&o, Command::Compile).unwrap();
        assert!(!s.kept && s.total < all, "{s:?}");
        std::fs::remove_file(dir.join("selectors.yml")).unwrap();
        let s = execute(&o, Command::Compile).unwrap();
        assert!(!s.kept && s.total == all, "{s:?}");
        // the artifacts written by another command
        let s = execute(&o, Command::Build).unwrap();
        assert!(s.ok(), "{s:?}");
        assert!(!compile(&o));
        assert!(compile(&o));
    }

    /// `is_incremental()` reads whether the model's table is there: the
    /// compiled SQL of an incremental model changes when it appears, with
    /// every file unchanged.
    #[test]
    fn a_relation_looked_up_that_changed_compiles_again() {
        let _turn = env_turn();
        let (_t, dir) = jaffle();
        let o = opts(&dir);
        let s = execute(
            &Options {
                select: vec!["+orders".into()],
                ..opts(&dir)
            },
            Command::Build,
        )
        .unwrap();
        assert!(s.ok(), "{s:?}");
        assert!(!compile(&o));
        assert!(compile(&o));
        let orders = dir.join("target/compiled/jaffle/models/marts/orders.sql");
        let incremental = std::fs::read_to_string(&orders).unwrap();
        // the table goes, behind the artifacts' back
        let target = crate::run_info(&o, Command::Compile).unwrap().target;
        crate::open_db(&target)
            .unwrap()
            .execute("drop table main.orders")
            .unwrap();
        assert!(!compile(&o));
        let first_build = std::fs::read_to_string(&orders).unwrap();
        assert_ne!(incremental, first_build, "the first build's SQL now");
        assert!(compile(&o));
    }

    /// What a render reads beyond the files: the clock, the database, an
    /// environment variable.
    #[test]
    fn what_differs_from_run_to_run_is_never_kept() {
        let _turn = env_turn();
        let (_t, dir) = jaffle();
        let model = dir.join("models/staging/volatile.sql");
        let o = opts(&dir);
        for sql in [
            "select '{{ run_started_at }}' as at",
            "select '{{ invocation_id }}' as id",
            "select '{{ modules.datetime.datetime.now() }}' as at",
            "{% do log('compiling', info=True) %}select 1 as one",
            "{% if execute %}{% set r = run_query('select 42') %}{% endif %}select 1 as one",
        ] {
            std::fs::write(&model, sql).unwrap();
            assert!(!compile(&o), "{sql}");
            assert!(!compile(&o), "{sql}: kept");
        }
        // an environment variable a model reads: kept while it is the same
        std::fs::write(
            &model,
            "select '{{ env_var(\"TARMAC_COMPILE_STAMP_TEST\", \"none\") }}' as v",
        )
        .unwrap();
        assert!(!compile(&o));
        assert!(compile(&o));
        std::env::set_var("TARMAC_COMPILE_STAMP_TEST", "set");
        assert!(!compile(&o));
        let text =
            std::fs::read_to_string(dir.join("target/compiled/jaffle/models/staging/volatile.sql"))
                .unwrap();
        assert!(text.contains("'set'"), "{text}");
        assert!(compile(&o));
    }
}
