//! dbt's daily-workflow commands (issue 17) as a user runs them: the real
//! binary on a temporary copy of the engine's jaffle fixture, with goldens
//! for what is printed, and, with dbt (found by `testkit::dbt`:
//! `$TARMAC_DBT` or the repository's `.venv-dbt`), the same commands run
//! by dbt-core 1.10 + dbt-duckdb on another copy must print and write the
//! same.

mod common;

use common::in_project as tarmac;
use common::{copy_project, engine_fixture, statuses, workspace};
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture() -> (tempfile::TempDir, PathBuf) {
    engine_fixture("jaffle")
}

/// Compare with `tests/golden/workflow/<name>` (`UPDATE_GOLDEN=1` rewrites it).
fn golden(name: &str, actual: &str) {
    let path = workspace()
        .join("crates/tarmac/tests/golden/workflow")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual, expected,
        "golden {name} differs (UPDATE_GOLDEN=1 rewrites it)"
    );
}

/// stdout without dbt's timestamped log lines (`12:34:56  ...`), which
/// both tools print around the preview.
fn bare(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            let l = l.trim_start_matches("\u{1b}[0m");
            let b = l.as_bytes();
            !(b.len() >= 8 && b[2] == b':' && b[5] == b':' && b[..2].iter().all(u8::is_ascii_digit))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn built(dir: &Path, db: &Path) {
    let out = tarmac(dir, db, &["build"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each of `cases` run by Tarmac in `dir` on `db`: the command, its exit
/// code and its bare stdout, for a golden.
fn transcript(dir: &Path, db: &Path, cases: &[&[&str]]) -> String {
    let mut all = String::new();
    for args in cases {
        let out = tarmac(dir, db, args);
        all += &format!(
            "$ tarmac {}\nexit {:?}\n{}\n",
            args.join(" "),
            out.status.code(),
            bare(&out)
        );
    }
    all
}

/// Each of `cases` run by Tarmac (`ours`: project folder and database) and
/// by dbt (`theirs`) must exit alike and, where dbt succeeds, print the
/// same bare stdout (their error messages differ in wording).
fn same_as_dbt(dbt: &Path, ours: (&Path, &Path), theirs: (&Path, &Path), cases: &[&[&str]]) {
    for args in cases {
        let us = tarmac(ours.0, ours.1, args);
        let them = testkit::dbt_command(dbt, theirs.0, args)
            .env("TARMAC_DB", theirs.1)
            .output()
            .unwrap();
        assert_eq!(us.status.code(), them.status.code(), "{args:?}");
        if them.status.success() {
            assert_eq!(
                bare(&us),
                bare(&them),
                "{args:?}: tarmac (left) and dbt (right) differ"
            );
        }
    }
}

/// The `show` invocations both tools are held to.
const SHOW_CASES: &[&[&str]] = &[
    &["show", "--select", "customers"],
    &["show", "--select", "stg_orders", "--limit", "2", "--output", "json"],
    &["show", "--inline", "select * from {{ ref('orders') }} order by order_id", "--limit", "3"],
    &[
        "show",
        "--inline",
        "select * from (values (1.5, -1234567.25::double, 'x', timestamp '2020-01-02 03:04:05.5', date '2020-01-01', [1,2], true), (2.25, null, 'null', timestamp '2020-01-02 03:04:05', null, null, null)) t(a,b,c,d,e)",
    ],
    &[
        "show",
        "--inline",
        "select 1234567 as big, 1.5::decimal(10,2) as dec, 3.14159265 as dbl, 'héllo' as t, '123' as numtext, date '2020-01-02' as d",
        "--output",
        "json",
    ],
    &["show", "--inline", "select range as i from range(8)", "--limit", "-1"],
    &["show", "--inline", "select 'a' as x, 'b' as x where false"],
];

#[test]
fn show_golden() {
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    built(&dir, &db);
    let mut all = transcript(&dir, &db, SHOW_CASES);
    // two models, upstream first (dbt previews them as its threads finish,
    // in any order, so this one is not compared with dbt)
    let out = tarmac(
        &dir,
        &db,
        &[
            "show",
            "--select",
            "stg_orders",
            "stg_customers",
            "--limit",
            "1",
        ],
    );
    all += &format!(
        "$ tarmac show --select stg_orders stg_customers --limit 1\nexit {:?}\n{}\n",
        out.status.code(),
        bare(&out)
    );
    // errors: nothing to show, and a query DuckDB refuses (dbt exits 2 for both)
    for args in [&["show"][..], &["show", "--inline", "select nope"][..]] {
        let out = tarmac(&dir, &db, args);
        all += &format!(
            "$ tarmac {}\nexit {:?}\n{}\n",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    golden("show.txt", &all);
}

#[test]
fn show_matches_dbt() {
    let Some(dbt) = testkit::dbt("show_matches_dbt") else {
        return;
    };
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    built(&dir, &db);
    let dbt_dir = dir.parent().unwrap().join("jaffle_dbt");
    copy_project(&dir, &dbt_dir);
    let theirs = dbt_dir.join("jaffle.duckdb");
    let out = testkit::dbt_command(&dbt, &dbt_dir, &["build"])
        .env("TARMAC_DB", &theirs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    same_as_dbt(&dbt, (&dir, &db), (&dbt_dir, &theirs), SHOW_CASES);
}

/// The `compile` invocations both tools are held to: dbt's interactive
/// compile prints the SQL of the node the first `--select` word names (an
/// ephemeral's too, with its CTEs injected where another reads it), or of
/// the `--inline` query.
const COMPILE_CASES: &[&[&str]] = &[
    &["compile", "--select", "customers", "orders"],
    &["compile", "--select", "+customer_orders"],
    &["compile", "--select", "stg_orders", "--output", "json"],
    &["compile", "--select", "tag:nothing"],
    &[
        "compile",
        "--inline",
        "select {{ cents_to_dollars('amount') }} as d from {{ ref('stg_payments') }}",
    ],
    &[
        "compile",
        "--inline",
        "select 'héllo' as t",
        "--output",
        "json",
    ],
    &["compile", "--inline", "select {{ ref('nope') }}"],
];

#[test]
fn compile_golden() {
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    let all = transcript(&dir, &db, COMPILE_CASES);
    // the second time the compile keeps the first one's output (its stamp
    // stands) and still prints the node
    let args = [COMPILE_CASES[0], &["-vv"]].concat();
    let first = tarmac(&dir, &db, &args);
    let again = tarmac(&dir, &db, &args);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("the last compile's output kept"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(bare(&again), bare(&first));
    golden("compile.txt", &all);
}

#[test]
fn compile_matches_dbt() {
    let Some(dbt) = testkit::dbt("compile_matches_dbt") else {
        return;
    };
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    let dbt_dir = dir.parent().unwrap().join("jaffle_dbt");
    copy_project(&dir, &dbt_dir);
    let theirs = dbt_dir.join("jaffle.duckdb");
    same_as_dbt(&dbt, (&dir, &db), (&dbt_dir, &theirs), COMPILE_CASES);
}

/// The timestamped log lines of `out`'s stdout, timestamps cut, without
/// what only says which program runs (dbt's version and deprecation notice,
/// its adapter) and with the macro count masked (dbt counts its own 500).
fn logged(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("\u{1b}[0m"))
        .filter(|l| l.len() >= 8 && l.as_bytes()[2] == b':' && l.as_bytes()[5] == b':')
        .map(|l| l[8..].trim().to_string())
        .filter(|l| {
            !(l.starts_with("Running with dbt")
                || l.starts_with("This version of dbt")
                || l.starts_with("Registered adapter")
                || l.starts_with("Unable to do partial parsing"))
        })
        .map(|l| {
            let words: Vec<&str> = l.split(' ').collect();
            let next_is_macros =
                |i: usize| words.get(i + 1).is_some_and(|w| w.starts_with("macro"));
            (0..words.len())
                .map(|i| if next_is_macros(i) { "N" } else { words[i] })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// A whole `compile` logs dbt's header and nothing after it. A model that
/// does not compile stops it with exit 2, the model's error under "Runtime
/// Error", and no run_results.json (the last run's stays), as dbt's does;
/// the next good compile is whole again.
#[test]
fn compile_logs_the_header_only_and_a_failure_stops_it() {
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    let out = tarmac(&dir, &db, &["compile"]);
    assert!(out.status.success());
    let lines = logged(&out);
    assert_eq!(
        lines,
        [
            "Found 6 models, 3 seeds, 5 data tests, N macros",
            "",
            "Concurrency: 4 threads (target='dev')",
            "",
        ],
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let results = dir.join("target/run_results.json");
    let before = std::fs::read_to_string(&results).unwrap();
    std::fs::write(dir.join("models/broken.sql"), "select {{ undefined_fn() }}").unwrap();
    let out = tarmac(&dir, &db, &["compile"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Runtime Error\n  Compilation Error in model broken (models/broken.sql)")
            && err.contains("'undefined_fn' is undefined"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&results).unwrap(), before);
    // what did compile is written, as dbt writes it
    assert!(dir
        .join("target/compiled/jaffle/models/staging/stg_orders.sql")
        .exists());
    std::fs::remove_file(dir.join("models/broken.sql")).unwrap();
    assert!(tarmac(&dir, &db, &["compile"]).status.success());

    let Some(dbt) = testkit::dbt("compile_logs_the_header_only_and_a_failure_stops_it") else {
        return;
    };
    let dbt_dir = dir.parent().unwrap().join("jaffle_dbt");
    copy_project(&dir, &dbt_dir);
    let theirs = testkit::dbt_command(&dbt, &dbt_dir, &["compile"])
        .env("TARMAC_DB", dbt_dir.join("jaffle.duckdb"))
        .output()
        .unwrap();
    assert!(theirs.status.success());
    assert_eq!(
        lines,
        logged(&theirs),
        "tarmac (left) and dbt (right) differ"
    );
    std::fs::write(
        dbt_dir.join("models/broken.sql"),
        "select {{ undefined_fn() }}",
    )
    .unwrap();
    let theirs = testkit::dbt_command(&dbt, &dbt_dir, &["compile"])
        .env("TARMAC_DB", dbt_dir.join("jaffle.duckdb"))
        .output()
        .unwrap();
    assert_eq!(theirs.status.code(), Some(2));
}

/// What an `--inline` command leaves for `which` (`compile` or `show`):
/// its header lines, and its one result in run_results.json with the
/// fields dbt 1.10 fills, beside the compiled file's text.
fn inline_outcome(dir: &Path, out: &Output, which: &str) -> (Vec<String>, serde_json::Value) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.join("target/run_results.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["args"]["which"], which);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{text}");
    let r = &results[0];
    let file = dir.join("target/compiled/jaffle/from remote system.sql/sql/inline_query");
    let compiled = std::fs::read_to_string(&file).unwrap();
    let timings: Vec<&str> = r["timing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut outcome = serde_json::json!({
        "unique_id": r["unique_id"], "status": r["status"], "compiled": r["compiled"],
        "relation_name": r["relation_name"], "failures": r["failures"], "timing": timings,
        // the compiled file holds the query's SQL; show's result adds its
        // `limit` (dbt's with its macro's whitespace, ours without)
        "file": compiled,
        "limited": r["compiled_code"].as_str().unwrap().trim_end().ends_with("limit 2"),
    });
    if which == "compile" {
        outcome["message"] = r["message"].clone();
        outcome["adapter_response"] = r["adapter_response"].clone();
        outcome["compiled_code"] = r["compiled_code"].clone();
    }
    let header = logged(out)
        .into_iter()
        .filter(|l| l.starts_with("Found"))
        .collect();
    (header, outcome)
}

/// `compile --inline` and `show --inline` count the query as a "sql
/// operation" in dbt's header, and write its compiled SQL and a
/// run_results.json of its one result, as dbt 1.10 does.
#[test]
fn an_inline_query_is_a_sql_operation_with_its_own_results() {
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    built(&dir, &db);
    let cases: [(&str, &[&str]); 2] = [
        (
            "compile",
            &[
                "compile",
                "--inline",
                "select * from {{ ref('customers') }}",
            ],
        ),
        (
            "show",
            &["show", "--inline", "select 1 as x", "--limit", "2"],
        ),
    ];
    let mut ours = Vec::new();
    for (which, args) in cases {
        let out = tarmac(&dir, &db, args);
        let (header, outcome) = inline_outcome(&dir, &out, which);
        assert_eq!(
            header,
            ["Found 6 models, 3 seeds, 5 data tests, 1 sql operation, N macros"],
            "{which}"
        );
        assert_eq!(outcome["unique_id"], "sql_operation.jaffle.inline_query");
        assert_eq!(outcome["status"], "success");
        assert_eq!(outcome["limited"], which == "show", "{which}: {outcome}");
        ours.push((header, outcome));
    }
    let customers = "select * from \"jaffle\".\"main_analytics\".\"customers\"";
    assert_eq!(ours[0].1["compiled_code"], customers);
    assert_eq!(ours[0].1["file"], customers);
    assert_eq!(ours[1].1["file"], "select 1 as x");

    let Some(dbt) = testkit::dbt("an_inline_query_is_a_sql_operation_with_its_own_results") else {
        return;
    };
    let dbt_dir = dir.parent().unwrap().join("jaffle_dbt");
    copy_project(&dir, &dbt_dir);
    let theirs_db = dbt_dir.join("jaffle.duckdb");
    let run = |args: &[&str]| {
        testkit::dbt_command(&dbt, &dbt_dir, args)
            .env("TARMAC_DB", &theirs_db)
            .output()
            .unwrap()
    };
    assert!(run(&["build"]).status.success());
    for ((which, args), mine) in cases.iter().zip(&ours) {
        let theirs = inline_outcome(&dbt_dir, &run(args), which);
        assert_eq!(
            *mine, theirs,
            "{which}: tarmac (left) and dbt (right) differ"
        );
    }
}

fn run_args(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("target/run_results.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["args"].clone()
}

/// One retry scenario, run by `run` (tarmac or dbt) in `dir`: a build with
/// a broken staging model and `--vars`/`--threads`, a retry while it is
/// still broken, a retry once fixed, a retry with nothing left. The
/// statuses after each step, exit codes, and the last command's args.
fn retry_steps(dir: &Path, run: &dyn Fn(&[&str]) -> Output) -> String {
    let model = dir.join("models/staging/stg_payments.sql");
    let good = std::fs::read_to_string(&model).unwrap();
    // a run-time failure (not SQL DuckDB refuses, for which Tarmac exits 2)
    std::fs::write(
        &model,
        "{{ config(materialized='table') }}\nselect error('broken') as payment_id\n",
    )
    .unwrap();
    let mut log = String::new();
    let step = |name: &str, args: &[&str], log: &mut String| {
        let out = run(args);
        let code = out.status.code();
        *log += &format!("== {name}: exit {code:?}\n");
        for (id, st) in statuses(dir) {
            *log += &format!("{id} {st}\n");
        }
        let a = run_args(dir);
        *log += &format!(
            "args: which={} vars={} threads={}\n",
            a["which"], a["vars"], a["threads"]
        );
        out
    };
    step(
        "build with a broken model",
        &["build", "--vars", "{x: 1}", "--threads", "1"],
        &mut log,
    );
    step("retry, still broken", &["retry"], &mut log);
    std::fs::write(&model, good).unwrap();
    step("retry, fixed", &["retry"], &mut log);
    let out = step("retry, nothing left", &["retry"], &mut log);
    let said = String::from_utf8_lossy(&out.stdout)
        .contains("Nothing to do. Try checking your model configs and model specification args");
    log += &format!("nothing to do: {said}\n");
    log
}

#[test]
fn retry_golden() {
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    // no run yet: dbt's error, exit 2
    let out = tarmac(&dir, &db, &["retry"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Could not find previous run in 'target' target directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = retry_steps(&dir, &|args| tarmac(&dir, &db, args));
    golden("retry.txt", &log);
}

#[test]
fn retry_matches_dbt() {
    let Some(dbt) = testkit::dbt("retry_matches_dbt") else {
        return;
    };
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    let ours = retry_steps(&dir, &|args| tarmac(&dir, &db, args));
    let dbt_dir = dir.parent().unwrap().join("jaffle_dbt");
    copy_project(
        &workspace().join("crates/engine/tests/fixtures/jaffle"),
        &dbt_dir,
    );
    let theirs_db = dbt_dir.join("jaffle.duckdb");
    let theirs = retry_steps(&dbt_dir, &|args| {
        testkit::dbt_command(&dbt, &dbt_dir, args)
            .env("TARMAC_DB", &theirs_db)
            .output()
            .unwrap()
    });
    assert_eq!(ours, theirs, "tarmac (left) and dbt (right) differ");
}

/// What debug and clean print that both tools print the same: the
/// configuration verdicts, the connection test, the closing line and the
/// clean lines, with the project's folder as `[DIR]`.
fn checks(out: &Output, dir: &Path) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut kept = format!("exit {:?}\n", out.status.code());
    let mut paths: Vec<String> = Vec::new();
    for l in text.lines() {
        let l = l.trim_start_matches("\u{1b}[0m");
        let l = if l.len() > 10 && l.as_bytes()[2] == b':' && l.as_bytes()[5] == b':' {
            &l[10..]
        } else {
            l
        };
        let plain = l
            .replace("\u{1b}[32m", "")
            .replace("\u{1b}[31m", "")
            .replace("\u{1b}[0m", "")
            .replace(&dir.display().to_string(), "[DIR]");
        let keep = plain.contains(".yml file [")
            || plain.contains("Connection test")
            || plain.contains("All checks passed")
            || plain.contains("checks failed")
            || plain.contains("Cleaned ")
            || plain.contains("Checking ")
            || plain.contains("Finished cleaning")
            || plain.contains("will not clean");
        if plain.contains("Cleaned ") || plain.contains("Checking ") {
            // dbt cleans in the order of a Python set of paths (random
            // from run to run): compared sorted
            paths.push(plain.trim().to_string());
        } else if keep {
            paths.sort();
            for p in paths.drain(..) {
                kept += &format!("{p}\n");
            }
            kept += plain.trim_start_matches("error: ").trim();
            kept += "\n";
        }
    }
    kept
}

/// debug on a good project and on a folder without one; clean with the
/// default targets, with two targets, and refused (outside the project, a
/// source path). Runs `run` (tarmac or dbt) with the project at `dir`.
fn debug_clean_steps(dir: &Path, run: &dyn Fn(&Path, &[&str]) -> Output) -> String {
    let mut log = String::new();
    log += "== debug\n";
    log += &checks(&run(dir, &["debug"]), dir);
    let empty = dir.parent().unwrap().join(format!(
        "{}_empty",
        dir.file_name().unwrap().to_string_lossy()
    ));
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("profiles.yml"), "x:\n  outputs: {}\n").unwrap();
    log += "== debug without a project\n";
    log += &checks(&run(&empty, &["debug"]), &empty);
    std::fs::create_dir_all(dir.join("target/compiled")).unwrap();
    std::fs::create_dir_all(dir.join("dbt_packages/p")).unwrap();
    log += "== clean\n";
    log += &checks(&run(dir, &["clean"]), dir);
    log += &format!(
        "target left: {}, dbt_packages left: {}\n",
        dir.join("target").exists(),
        dir.join("dbt_packages").exists()
    );
    let project = dir.join("dbt_project.yml");
    let base = std::fs::read_to_string(&project).unwrap();
    for targets in [
        r#"["target", "dbt_packages"]"#,
        r#"["target", "../elsewhere"]"#,
        r#"["target", "models"]"#,
    ] {
        std::fs::create_dir_all(dir.join("target")).unwrap();
        std::fs::write(&project, format!("{base}\nclean-targets: {targets}\n")).unwrap();
        log += &format!("== clean {targets}\n");
        log += &checks(&run(dir, &["clean"]), dir)
            .replace(&dir.parent().unwrap().display().to_string(), "[PARENT]");
        log += &format!(
            "target left: {}, dbt_packages left: {}, models left: {}\n",
            dir.join("target").exists(),
            dir.join("dbt_packages").exists(),
            dir.join("models").exists()
        );
    }
    std::fs::write(&project, base).unwrap();
    log
}

#[test]
fn debug_clean_golden() {
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    let log = debug_clean_steps(&dir, &|d, args| tarmac(d, &db, args));
    golden("debug_clean.txt", &log);
}

#[test]
fn debug_clean_match_dbt() {
    let Some(dbt) = testkit::dbt("debug_clean_match_dbt") else {
        return;
    };
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    let ours = debug_clean_steps(&dir, &|d, args| tarmac(d, &db, args));
    let dbt_dir = dir.parent().unwrap().join("dbt").join("jaffle");
    copy_project(
        &workspace().join("crates/engine/tests/fixtures/jaffle"),
        &dbt_dir,
    );
    let theirs_db = dbt_dir.join("jaffle.duckdb");
    let theirs = debug_clean_steps(&dbt_dir, &|d, args| {
        testkit::dbt_command(&dbt, d, args)
            .env("TARMAC_DB", &theirs_db)
            .output()
            .unwrap()
    });
    assert_eq!(ours, theirs, "tarmac (left) and dbt (right) differ");
}

/// The `ls` invocations both tools are held to.
const LS_CASES: &[&[&str]] = &[
    &["ls"],
    &["ls", "--select", "+stg_orders"],
    &["ls", "--select", "+customers", "--output", "name"],
    &["ls", "--select", "+customers", "--output", "path"],
    &["ls", "--select", "+customers", "--output", "selector"],
    &["ls", "--select", "+customers", "--output", "json"],
    &[
        "ls",
        "--select",
        "customers+",
        "--output",
        "json",
        "--output-keys",
        "name",
        "resource_type",
        "depends_on",
    ],
    &[
        "ls",
        "--resource-type",
        "test",
        "--output",
        "json",
        "--output-keys",
        "unique_id",
        "config",
    ],
];

/// `ls` output with dbt's log lines left out; JSON lines parsed (dbt's
/// config keys come in its own order), one value a line.
fn ls_lines(out: &Output) -> Vec<serde_json::Value> {
    bare(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|_| serde_json::Value::String(l.to_string()))
        })
        .collect()
}

#[test]
fn ls_golden() {
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    let mut all = String::new();
    for args in LS_CASES {
        let out = tarmac(&dir, &db, args);
        all += &format!(
            "$ tarmac {}\nexit {:?}\n{}\n",
            args.join(" "),
            out.status.code(),
            bare(&out)
        );
    }
    golden("ls.txt", &all);
}

#[test]
fn ls_matches_dbt() {
    let Some(dbt) = testkit::dbt("ls_matches_dbt") else {
        return;
    };
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    for args in LS_CASES {
        let ours = tarmac(&dir, &db, args);
        let them = testkit::dbt_command(&dbt, &dir, args)
            .env("TARMAC_DB", &db)
            .output()
            .unwrap();
        assert_eq!(ours.status.code(), them.status.code(), "{args:?}");
        // known difference: `is_incremental` is a built-in function in
        // Tarmac, not a macro, so depends_on.macros does not name it
        let mut theirs = ls_lines(&them);
        for v in theirs.iter_mut() {
            if let Some(serde_json::Value::Array(m)) = v.pointer_mut("/depends_on/macros") {
                m.retain(|x| x != "macro.dbt.is_incremental");
            }
        }
        assert_eq!(
            ls_lines(&ours),
            theirs,
            "{args:?}: tarmac (left) and dbt (right) differ"
        );
    }
}

/// `ls` of a project with sources (the engine's `shop` fixture), text
/// compared line for line with dbt's: sources among the nodes in dbt's
/// order, their names, paths and JSON (keys and config in dbt's order).
#[test]
fn ls_lists_sources_as_dbt() {
    let Some(dbt) = testkit::dbt("ls_lists_sources_as_dbt") else {
        return;
    };
    let (_t, dir) = engine_fixture("shop");
    let db = dir.join("shop.duckdb");
    let cases: &[&[&str]] = &[
        &["ls"],
        &["ls", "--select", "source:raw.events+"],
        &["ls", "--select", "source:*", "--output", "name"],
        &["ls", "--select", "source:*", "--output", "path"],
        &["ls", "--resource-type", "source", "--output", "json"],
        &["ls", "--select", "stg_payments", "--output", "json"],
        &[
            "ls",
            "--resource-type",
            "source",
            "--exclude",
            "source:raw.orders",
        ],
    ];
    for args in cases {
        let ours = tarmac(&dir, &db, args);
        // -q: no deprecation notices (the fixture's generic test arguments)
        let quiet: Vec<&str> = std::iter::once("-q").chain(args.iter().copied()).collect();
        let them = testkit::dbt_command(&dbt, &dir, &quiet)
            .env("TARMAC_DB", &db)
            .output()
            .unwrap();
        assert_eq!(ours.status.code(), them.status.code(), "{args:?}");
        assert_eq!(
            bare(&ours),
            bare(&them),
            "{args:?}: tarmac (left) and dbt (right) differ"
        );
    }
}

/// Every compiled model file under target/compiled, path and text.
fn compiled_models(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let root = dir.join("target/compiled/jaffle/models");
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(&root).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Relations (schema, name) with their columns and row counts, read with
/// dbt's Python DuckDB (which reads both tools' files).
fn relations(python: &Path, db: &Path) -> String {
    let script = r#"
import duckdb, sys
c = duckdb.connect(sys.argv[1], read_only=True)
for s, t in c.sql("select table_schema, table_name from information_schema.tables where table_catalog = current_database() order by 1, 2").fetchall():
    cols = [r[0] + ' ' + r[1] for r in c.sql(f'describe "{s}"."{t}"').fetchall()]
    n = c.sql(f'select count(*) from "{s}"."{t}"').fetchall()[0][0]
    print(s, t, n, ', '.join(cols))
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn empty_golden() {
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    let out = tarmac(&dir, &db, &["build", "--empty"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut all = String::new();
    for (path, sql) in compiled_models(&dir) {
        all += &format!("-- {path}\n{sql}\n");
    }
    for (id, st) in statuses(&dir) {
        all += &format!("{id} {st}\n");
    }
    all += &format!("args.empty = {}\n", run_args(&dir)["empty"]);
    golden("empty.txt", &all);
}

#[test]
fn empty_matches_dbt() {
    let Some(dbt) = testkit::dbt("empty_matches_dbt") else {
        return;
    };
    let (_t, dir) = fixture();
    let dbt_dir = dir.parent().unwrap().join("dbt").join("jaffle");
    copy_project(&dir, &dbt_dir);
    // both files are jaffle.duckdb, so both databases are named jaffle
    let ours = dir.join("jaffle.duckdb");
    let theirs = dbt_dir.join("jaffle.duckdb");
    let out = tarmac(&dir, &ours, &["build", "--empty"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = testkit::dbt_command(&dbt, &dbt_dir, &["build", "--empty"])
        .env("TARMAC_DB", &theirs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        statuses(&dir),
        statuses(&dbt_dir),
        "statuses: tarmac (left), dbt (right)"
    );
    // dbt also writes an ephemeral model's own compiled file, which
    // Tarmac does not (with or without --empty): compared where both wrote
    let ours_sql = compiled_models(&dir);
    let theirs_sql: Vec<(String, String)> = compiled_models(&dbt_dir)
        .into_iter()
        .filter(|(p, _)| ours_sql.iter().any(|(q, _)| q == p))
        .collect();
    assert_eq!(
        ours_sql, theirs_sql,
        "compiled SQL: tarmac (left), dbt (right)"
    );
    let py = testkit::python_beside(&dbt);
    let (a, b) = (relations(&py, &ours), relations(&py, &theirs));
    assert_eq!(a, b, "relations: tarmac (left), dbt (right)");
    assert!(a.contains("main stg_orders 0 "), "{a}");
}
