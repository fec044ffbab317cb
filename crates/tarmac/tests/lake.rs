//! `tarmac lake publish`: the warehouse's layers as Apache Iceberg tables,
//! read back by pyiceberg (a separate implementation of Iceberg) through the
//! same SQL catalog, on SQLite and on a real PostgreSQL, in a folder and in
//! a real S3-compatible server; only changed partitions rewritten; types
//! mapped exactly; schema evolution; bad stores and a killed publish leave
//! nothing half published.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A warehouse built by `tarmac up` from the simulator (`days` days).
fn built_warehouse(days: u32) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(tarmac(tmp.path()).args(["up", "--days", &days.to_string(), "--yes"]));
    assert!(o.status.success(), "{}", text(&o));
    tmp
}

fn publish(dir: &Path, args: &[&str]) -> Output {
    run(tarmac(dir).args(["lake", "publish"]).args(args))
}

/// Statements run on the warehouse file of `dir` (made if missing), with
/// DuckDB directly: the tables a test publishes.
fn warehouse_sql(dir: &Path, sql: &str) {
    let conn = duckdb::Connection::open(dir.join("tarmac.duckdb")).unwrap();
    conn.execute_batch(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// pyiceberg's view of the catalog's tables: one JSON object each (see
/// tests/lake/read_back.py), with the rows written to `out`.
fn read_back(py: &Path, uri: &str, props: &[(&str, String)], out: &Path) -> Vec<Value> {
    std::fs::create_dir_all(out).unwrap();
    let spec = serde_json::json!({
        "uri": uri,
        "name": "tarmac",
        "props": props.iter().map(|(k, v)| (k.to_string(), Value::from(v.clone()))).collect::<serde_json::Map<_, _>>(),
        "tables": Value::Null,
        "out": out,
    });
    let spec_path = out.join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let script = workspace().join("crates/tarmac/tests/lake/read_back.py");
    let o = Command::new(py)
        .arg(script)
        .arg(&spec_path)
        .stdin(Stdio::null())
        .output()
        .expect("run pyiceberg");
    assert!(o.status.success(), "pyiceberg failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Row count and an order-free digest of a relation's rows, every column
/// compared as DuckDB prints it (so a TINYINT and the int it became agree).
fn digest(conn: &duckdb::Connection, columns: &[String], relation: &str) -> (i64, String) {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| {
            format!(
                "coalesce(\"{}\"::VARCHAR, '<null>')",
                c.replace('"', "\"\"")
            )
        })
        .collect();
    let h = format!("hash({})", cols.join(", "));
    conn.query_row(
        &format!("SELECT count(*), coalesce(sum({h}::HUGEINT), 0)::VARCHAR || '/' || coalesce(bit_xor({h}), 0)::VARCHAR FROM {relation}"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap_or_else(|e| panic!("{relation}: {e}"))
}

/// Every table pyiceberg read equals the warehouse table of that name: row
/// count and content digest. Returns the tables compared.
fn same_as_warehouse(db: &Path, tables: &[Value], out: &Path) -> Vec<String> {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!("ATTACH '{}' AS wh (READ_ONLY)", db.display()))
        .unwrap();
    let mut names = Vec::new();
    for t in tables {
        let name = t["table"].as_str().unwrap();
        let (ns, table) = name.split_once('.').unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'wh' \
                 AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            )
            .unwrap();
        let columns: Vec<String> = stmt
            .query_map([ns, table], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!columns.is_empty(), "{name} is not in the warehouse");
        let expected = digest(&conn, &columns, &format!("wh.\"{ns}\".\"{table}\""));
        let parquet = out.join(format!("{name}.parquet"));
        let got = digest(
            &conn,
            &columns,
            &format!("read_parquet('{}')", parquet.display()),
        );
        assert_eq!(
            got, expected,
            "{name}: pyiceberg's rows differ from the warehouse's"
        );
        assert_eq!(t["rows"].as_i64(), Some(expected.0), "{name}");
        names.push(name.to_string());
    }
    names
}

fn sqlite_uri(path: &Path) -> String {
    format!("sqlite:///{}", path.display())
}

/// The warehouse tables of the silver and gold layers.
fn layer_tables(db: &Path) -> Vec<String> {
    let conn = read_only(db);
    let mut stmt = conn
        .prepare(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables \
             WHERE table_schema IN ('silver', 'gold') ORDER BY 1",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

fn report(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_published_warehouse_reads_back_in_pyiceberg_and_republishes_only_what_changed() {
    let Some(py) = testkit::pyiceberg::python("lake_sqlite") else {
        return;
    };
    let tmp = built_warehouse(3);
    let dir = tmp.path();
    let db = dir.join("tarmac.duckdb");

    // first publish: every table of silver and gold is created
    let first = report(&ok(publish(dir, &["--json"])));
    let names: Vec<&str> = first.iter().map(|r| r["table"].as_str().unwrap()).collect();
    assert_eq!(names, layer_tables(&db), "published tables");
    assert!(first.iter().all(|r| r["outcome"] == "created"), "{first:?}");

    let catalog = dir.join("lake/catalog.db");
    let out = dir.join("read1");
    let back = read_back(&py, &sqlite_uri(&catalog), &[], &out);
    assert_eq!(same_as_warehouse(&db, &back, &out), layer_tables(&db));
    let flights = back
        .iter()
        .find(|t| t["table"] == "silver.flights")
        .unwrap();
    assert_eq!(
        flights["partition"],
        serde_json::json!(["day(scheduled_time_utc)"])
    );
    let schema = flights["schema"].as_array().unwrap();
    let ty = |col: &str| {
        schema
            .iter()
            .find(|c| c[0] == col)
            .unwrap_or_else(|| panic!("{col} not in {schema:?}"))[1]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(ty("scheduled_time_utc"), "timestamptz");
    assert_eq!(ty("date"), "date");
    assert_eq!(ty("id"), "string");

    // nothing changed: nothing is written, no snapshot is added
    let again = report(&ok(publish(dir, &["--json"])));
    assert!(
        again.iter().all(|r| r["outcome"] == "unchanged"),
        "{again:?}"
    );

    // one more day lands: only its partitions are rewritten
    let partitions_before = first
        .iter()
        .find(|r| r["table"] == "silver.flights")
        .unwrap()["partitions_changed"]
        .as_u64()
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    let day = (today - chrono::Duration::days(5)).to_string();
    ok(run(tarmac(dir).args([
        "ingest",
        "batch",
        "--airport",
        "BOG",
        "--from",
        &day,
        "--to",
        &day,
        "--simulator",
        "--yes",
    ])));
    ok(run(tarmac(dir).args(["build"])));
    let third = report(&ok(publish(dir, &["--json", "--select", "silver.*"])));
    let f = third
        .iter()
        .find(|r| r["table"] == "silver.flights")
        .unwrap();
    assert_eq!(f["outcome"], "updated", "{third:?}");
    let changed = f["partitions_changed"].as_u64().unwrap();
    assert!(
        changed >= 1 && changed < partitions_before,
        "a one-day delta rewrote {changed} of {partitions_before} partitions"
    );
    let out = dir.join("read2");
    let back = read_back(&py, &sqlite_uri(&catalog), &[], &out);
    // gold was not republished: only silver equals the warehouse now
    let silver: Vec<Value> = back
        .iter()
        .filter(|t| t["table"].as_str().unwrap().starts_with("silver."))
        .cloned()
        .collect();
    same_as_warehouse(&db, &silver, &out);
    let flights = back
        .iter()
        .find(|t| t["table"] == "silver.flights")
        .unwrap();
    assert_eq!(flights["snapshots"], 2);
}

#[test]
fn the_postgresql_catalog_reads_back_in_pyiceberg() {
    let Some(py) = testkit::pyiceberg::python("lake_postgres") else {
        return;
    };
    let Some(pg) = testkit::postgres::PgServer::start("lake_postgres") else {
        return;
    };
    let tmp = built_warehouse(2);
    let dir = tmp.path();
    ok(publish(
        dir,
        &[
            "--catalog",
            &pg.url(),
            "--select",
            "silver.flights",
            "gold.*",
        ],
    ));
    let out = dir.join("read");
    let uri = pg.url().replace("postgresql://", "postgresql+psycopg2://");
    let back = read_back(&py, &uri, &[], &out);
    let names = same_as_warehouse(&dir.join("tarmac.duckdb"), &back, &out);
    assert!(names.contains(&"silver.flights".to_string()), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("gold.")), "{names:?}");
}

/// A warehouse with one table of every mapped type (and what cannot map).
fn kinds_warehouse(dir: &Path) {
    warehouse_sql(
        dir,
        "CREATE SCHEMA kinds; \
         CREATE TYPE mood AS ENUM ('calm', 'busy'); \
         CREATE TABLE kinds.every_type AS SELECT * FROM (VALUES \
           (true, 1::TINYINT, 2::SMALLINT, 3::INTEGER, 4::BIGINT, 5::UINTEGER, 1.5::FLOAT, 2.25::DOUBLE, \
            123.456::DECIMAL(18,3), 'x'::VARCHAR, 'calm'::mood, '\\xAA'::BLOB, DATE '2026-03-01', TIME '12:34:56', \
            TIMESTAMP '2026-03-01 12:00:00', TIMESTAMPTZ '2026-03-01 12:00:00+00', TIMESTAMP_MS '2026-03-01 12:00:00.123', \
            [1, 2]::INTEGER[], {'a': 1, 'b c': ['x']}::STRUCT(a INTEGER, \"b c\" VARCHAR[]), MAP {'k': 1.5::DOUBLE}, \
            '5b0f2f0e-3f6e-4c4a-9f5e-3b1f6c2d7e11'::UUID), \
           (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)) \
           AS t(b, ti, si, i, bi, ui, f, d, dec, s, e, bl, dt, tm, ts, tstz, tsms, li, st, mp, u);",
    );
}

#[test]
fn types_map_exactly_and_a_type_iceberg_lacks_is_an_error_naming_the_column() {
    let Some(py) = testkit::pyiceberg::python("lake_types") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    kinds_warehouse(dir);
    ok(publish(dir, &["--layer", "kinds"]));
    let out = dir.join("read");
    let back = read_back(&py, &sqlite_uri(&dir.join("lake/catalog.db")), &[], &out);
    same_as_warehouse(&dir.join("tarmac.duckdb"), &back, &out);
    let types: Vec<String> = back[0]["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}:{}", c[0].as_str().unwrap(), c[1].as_str().unwrap()))
        .collect();
    let want = [
        "b:boolean",
        "ti:int",
        "si:int",
        "i:int",
        "bi:long",
        "ui:long",
        "f:float",
        "d:double",
        "dec:decimal(18, 3)",
        "s:string",
        "e:string",
        "bl:binary",
        "dt:date",
        "tm:time",
        "ts:timestamp",
        "tstz:timestamptz",
        "tsms:timestamp",
    ];
    assert_eq!(&types[..want.len()], &want, "{types:?}");
    assert!(types[want.len()].starts_with("li:list<int>"), "{types:?}");
    assert!(types[want.len() + 1].starts_with("st:struct<"), "{types:?}");
    assert!(
        types[want.len() + 2].starts_with("mp:map<string, double>"),
        "{types:?}"
    );
    assert_eq!(types[want.len() + 3], "u:uuid");

    // HUGEINT has no Iceberg equivalent: the error names the column, and
    // nothing of the layer is published
    warehouse_sql(
        dir,
        "CREATE TABLE kinds.a_big AS SELECT 1 AS id, 170141183460469231731687303715884105727::HUGEINT AS huge",
    );
    let before = std::fs::read(dir.join("lake/catalog.db")).unwrap();
    let o = publish(dir, &["--layer", "kinds"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("kinds.a_big.huge") && err.contains("HUGEINT"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.join("lake/catalog.db")).unwrap(),
        before,
        "the catalog changed"
    );
}

#[test]
fn an_added_column_evolves_the_table_and_an_incompatible_change_publishes_nothing() {
    let Some(py) = testkit::pyiceberg::python("lake_evolution") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    warehouse_sql(
        dir,
        "CREATE SCHEMA kinds; CREATE TABLE kinds.t AS SELECT range AS id, range::INTEGER % 7 AS n FROM range(100)",
    );
    ok(publish(dir, &["--layer", "kinds"]));
    warehouse_sql(
        dir,
        "ALTER TABLE kinds.t ADD COLUMN label VARCHAR; UPDATE kinds.t SET label = 'n' || n; \
         ALTER TABLE kinds.t ALTER n TYPE BIGINT",
    );
    let o = ok(publish(dir, &["--layer", "kinds", "--json"]));
    assert_eq!(report(&o)[0]["outcome"], "updated");
    let out = dir.join("read");
    let back = read_back(&py, &sqlite_uri(&dir.join("lake/catalog.db")), &[], &out);
    same_as_warehouse(&dir.join("tarmac.duckdb"), &back, &out);
    assert_eq!(
        back[0]["schema"],
        serde_json::json!([["id", "long"], ["n", "long"], ["label", "string"]])
    );

    // a long that became a string cannot be promoted
    warehouse_sql(dir, "ALTER TABLE kinds.t ALTER n TYPE VARCHAR");
    let before = std::fs::read(dir.join("lake/catalog.db")).unwrap();
    let o = publish(dir, &["--layer", "kinds"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("kinds.t") && err.contains("`n`") && err.contains("promote"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("lake/catalog.db")).unwrap(), before);
}

#[test]
fn snapshots_beyond_the_retention_expire_with_the_files_only_they_used() {
    let Some(py) = testkit::pyiceberg::python("lake_retention") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    warehouse_sql(
        dir,
        "CREATE SCHEMA kinds; CREATE TABLE kinds.t AS SELECT range AS id FROM range(10)",
    );
    let keep = [
        "--layer",
        "kinds",
        "--keep-snapshots",
        "2",
        "--max-snapshot-age",
        "0s",
        "--json",
    ];
    let mut expired = Vec::new();
    for round in 0..4 {
        if round > 0 {
            warehouse_sql(
                dir,
                &format!("INSERT INTO kinds.t VALUES ({})", 100 + round),
            );
        }
        let r = report(&ok(publish(dir, &keep)));
        expired.push(r[0]["snapshots_expired"].as_u64().unwrap());
    }
    // 4 snapshots made, 2 kept: the 1st expires at the 3rd publish, the 2nd at the 4th
    assert_eq!(expired, vec![0, 0, 1, 1]);
    let out = dir.join("read");
    let back = read_back(&py, &sqlite_uri(&dir.join("lake/catalog.db")), &[], &out);
    assert_eq!(back[0]["snapshots"], 2);
    same_as_warehouse(&dir.join("tarmac.duckdb"), &back, &out);
    // what is left on disk: the data files of the two kept snapshots, and
    // the manifest lists of those two only
    let table = dir.join("lake/kinds/t");
    let count = |sub: &str, suffix: &str| {
        files(&table.join(sub))
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .count()
    };
    assert_eq!(count("data", ".parquet"), 2);
    let lists = files(&table.join("metadata"))
        .iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snap-")
        })
        .count();
    assert_eq!(lists, 2);
}

#[test]
fn a_publish_killed_at_any_moment_reruns_to_the_same_tables() {
    let Some(py) = testkit::pyiceberg::python("lake_kill") else {
        return;
    };
    let tmp = built_warehouse(2);
    let dir = tmp.path();
    let db = dir.join("tarmac.duckdb");
    // how long a whole publish takes, to spread the kills over it
    let probe = tempfile::tempdir().unwrap();
    let lake_arg = |p: &Path| p.join("lake").display().to_string();
    let t0 = Instant::now();
    ok(publish(dir, &["--lake", &lake_arg(probe.path())]));
    let whole = t0.elapsed();
    let mut rng = Lcg(7);
    for round in 0..6 {
        let lake = dir.join(format!("kill{round}"));
        let mut child = tarmac(dir)
            .args(["lake", "publish", "--lake", &lake_arg(&lake)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let at = whole.mul_f64(0.1 + 0.8 * rng.next());
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let catalog = lake.join("lake/catalog.db");
        if catalog.exists() {
            // whatever the catalog names must read whole
            let out = lake.join("read-killed");
            let back = read_back(&py, &sqlite_uri(&catalog), &[], &out);
            for t in &back {
                assert!(t["rows"].as_i64().unwrap() >= 0);
            }
            same_as_warehouse(&db, &back, &out);
        }
        ok(publish(dir, &["--lake", &lake_arg(&lake)]));
        let out = lake.join("read");
        let back = read_back(&py, &sqlite_uri(&catalog), &[], &out);
        assert_eq!(
            same_as_warehouse(&db, &back, &out),
            layer_tables(&db),
            "round {round}"
        );
    }
}

/// The S3 tests: the lake in a bucket of a real S3-compatible server.
mod s3 {
    use super::*;
    use testkit::s3::{free_port, S3Server};

    fn s3_props(s3: &S3Server) -> Vec<(&'static str, String)> {
        vec![
            ("s3.endpoint", s3.endpoint.clone()),
            ("s3.access-key-id", testkit::s3::ACCESS_KEY_ID.to_string()),
            (
                "s3.secret-access-key",
                testkit::s3::SECRET_ACCESS_KEY.to_string(),
            ),
            ("s3.region", "us-east-1".to_string()),
        ]
    }

    #[test]
    fn a_lake_in_a_bucket_reads_back_in_pyiceberg() {
        let Some(py) = testkit::pyiceberg::python("lake_s3") else {
            return;
        };
        let Some(s3) = S3Server::start("lake_s3") else {
            return;
        };
        s3.create_bucket("lakehouse");
        let tmp = built_warehouse(2);
        let dir = tmp.path();
        let catalog = dir.join("catalog.db");
        let o = ok(run(tarmac(dir)
            .args([
                "lake",
                "publish",
                "--lake",
                "s3://lakehouse/prod",
                "--catalog",
            ])
            .arg(&catalog)
            .envs(s3.env())));
        assert!(o.contains("created"), "{o}");
        let keys = s3.keys("lakehouse", "prod/silver/flights/");
        assert!(keys.iter().any(|k| k.ends_with(".parquet")), "{keys:?}");
        assert!(
            keys.iter().any(|k| k.ends_with(".metadata.json")),
            "{keys:?}"
        );
        let out = dir.join("read");
        let back = read_back(&py, &sqlite_uri(&catalog), &s3_props(&s3), &out);
        assert_eq!(
            same_as_warehouse(&dir.join("tarmac.duckdb"), &back, &out),
            layer_tables(&dir.join("tarmac.duckdb"))
        );
    }

    #[test]
    fn an_unreachable_store_wrong_credentials_and_a_missing_bucket_are_clear_errors() {
        let Some(s3) = S3Server::start("lake_s3_errors") else {
            return;
        };
        s3.create_bucket("lakehouse");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        warehouse_sql(
            dir,
            "CREATE SCHEMA silver; CREATE TABLE silver.t AS SELECT range AS id FROM range(10)",
        );
        let catalog = dir.join("catalog.db");
        let attempt = |lake: &str, env: Vec<(&'static str, String)>| {
            let o = run(tarmac(dir)
                .args(["lake", "publish", "--lake", lake, "--catalog"])
                .arg(&catalog)
                .envs(env));
            assert!(!o.status.success(), "{}", text(&o));
            String::from_utf8_lossy(&o.stderr).into_owned()
        };
        // nothing listens there
        let mut env = s3.env();
        env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
        env.push((
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", free_port()),
        ));
        let t0 = Instant::now();
        let err = attempt("s3://lakehouse/x", env);
        assert!(err.contains("cannot be reached"), "{err}");
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "took {:?}",
            t0.elapsed()
        );
        // a server that checks credentials does not know ours
        let strict =
            S3Server::start_with("lake_s3_errors", &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
                .unwrap();
        let mut env = strict.env();
        env.retain(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY");
        env.push(("AWS_SECRET_ACCESS_KEY", "wrong-secret-0000".into()));
        let err = attempt("s3://lakehouse/x", env);
        assert!(err.contains("refused the credentials"), "{err}");
        assert!(!err.contains("wrong-secret-0000"), "{err}");
        // no such bucket
        let err = attempt("s3://no-such-bucket/x", s3.env());
        assert!(err.contains("bucket does not exist"), "{err}");
        // none of them registered a table
        if catalog.exists() {
            let conn = registered_tables(&catalog);
            assert_eq!(conn, 0);
        }
    }

    /// Tables registered in a SQLite catalog.
    fn registered_tables(catalog: &PathBuf) -> usize {
        let conn = rusqlite::Connection::open(catalog).unwrap();
        conn.query_row("SELECT count(*) FROM iceberg_tables", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as usize
    }
}
