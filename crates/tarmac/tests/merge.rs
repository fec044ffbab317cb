//! The `merge` incremental strategy (issue 17): the real binary builds the
//! engine's `merge` fixture twice (`round` 1 creates each table, round 2
//! merges changed, new and null-valued rows), one model per dbt-duckdb
//! merge configuration. A golden holds the tables and the MERGE statements;
//! with dbt (`testkit::dbt`), dbt-core + dbt-duckdb builds a copy the same
//! way and must give the same statuses and the same tables, row for row.

mod common;

use common::in_project as tarmac;
use common::{copy_project, engine_fixture, statuses, workspace};
use std::path::Path;
use std::process::Output;

const ROUND_2: &[&str] = &["build", "--vars", "{round: 2}"];

/// Both rounds; round 2 fails (bad_config is an error), on purpose.
fn build_twice(run: &dyn Fn(&[&str]) -> Output) {
    let first = run(&["build"]);
    assert!(first.status.success(), "{}", common::text(&first));
    let second = run(ROUND_2);
    assert_eq!(second.status.code(), Some(1), "{}", common::text(&second));
}

/// Every table with its columns and its rows, sorted, as text.
fn tables_of(db: &Path) -> String {
    let conn = common::read_only(db);
    let names: Vec<String> = conn
        .prepare("select table_name from information_schema.tables where table_catalog = current_database() order by 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = String::new();
    for t in names {
        let cols: Vec<String> = conn
            .prepare(&format!("describe \"{t}\""))
            .unwrap()
            .query_map([], |r| {
                Ok(format!(
                    "{} {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out += &format!("{t}: {}\n", cols.join(", "));
        let sql = format!(
            "select concat_ws(' | ', {}) from \"{t}\" order by all",
            cols.iter()
                .map(|c| format!(
                    "coalesce(cast(\"{}\" as varchar), 'NULL')",
                    c.split(' ').next().unwrap()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for row in conn
            .prepare(&sql)
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
        {
            out += &format!("  {}\n", row.unwrap());
        }
    }
    out
}

#[test]
fn merge_golden() {
    let (_t, dir) = engine_fixture("merge");
    let db = dir.join("merge.duckdb");
    build_twice(&|args| tarmac(&dir, &db, args));
    let mut all = tables_of(&db);
    for (id, st) in statuses(&dir) {
        all += &format!("{id} {st}\n");
    }
    for m in [
        "by_name",
        "exclude_columns",
        "clauses",
        "predicates",
        "using_columns",
    ] {
        let p = dir.join(format!("target/run/merge/models/{m}.sql"));
        all += &format!("-- {m}\n{}\n", std::fs::read_to_string(p).unwrap());
    }
    let path = workspace().join("crates/tarmac/tests/golden/workflow/merge.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &all).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        all, expected,
        "golden merge.txt differs (UPDATE_GOLDEN=1 rewrites it)"
    );
}

#[test]
fn merge_matches_dbt() {
    let Some(dbt) = testkit::dbt("merge_matches_dbt") else {
        return;
    };
    let (_t, dir) = engine_fixture("merge");
    let dbt_dir = dir.parent().unwrap().join("dbt").join("merge");
    copy_project(&dir, &dbt_dir);
    // both files are merge.duckdb, so both databases are named merge
    let ours = dir.join("merge.duckdb");
    let theirs = dbt_dir.join("merge.duckdb");
    build_twice(&|args| tarmac(&dir, &ours, args));
    build_twice(&|args| {
        testkit::dbt_command(&dbt, &dbt_dir, args)
            .env("TARMAC_DB", &theirs)
            .output()
            .unwrap()
    });
    assert_eq!(
        statuses(&dir),
        statuses(&dbt_dir),
        "statuses: tarmac (left), dbt (right)"
    );
    assert_eq!(
        tables_of(&ours),
        tables_of(&theirs),
        "tables: tarmac (left), dbt (right)"
    );
}
