#!/usr/bin/env python3
"""Builds the vendored real dbt-duckdb projects (bench/projects/*) with
dbt-core + dbt-duckdb and with Tarmac, into separate DuckDB files, and holds
every relation (columns and types, row count, order-independent content
digest) and every node's status from run_results.json (models, seeds,
snapshots, tests: pass/fail/warn/error/skipped) of one against the other.
Prints a table per project and the wall-time ratio.

Usage (bench/real_projects.sh picks the binaries):
  python3 real_projects.py --dbt DBT --tarmac TARMAC [--only NAME ...]
                           [--write-golden] [--keep DIR]

--write-golden stores what *dbt* built (statuses per run, relations after the
last run) in crates/engine/tests/golden/real_projects/<name>.json, which the
engine's integration test (`crates/engine/tests/features.rs`) holds Tarmac's
build to without needing dbt.

Needs the `duckdb` Python module (the dbt venv has it). Exit code 1 if any
relation or status differs.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = ROOT / "bench" / "projects"
GOLDEN = ROOT / "crates" / "engine" / "tests" / "golden" / "real_projects"

# The same text is in crates/engine/tests/features.rs: keep them equal.
RELATIONS_SQL = """
SELECT schema_name, table_name, 'table' FROM duckdb_tables()
 WHERE database_name = current_database() AND NOT internal AND NOT temporary
UNION ALL
SELECT schema_name, view_name, 'view' FROM duckdb_views()
 WHERE database_name = current_database() AND NOT internal AND NOT temporary
ORDER BY 1, 2
"""
COLUMNS_SQL = """
SELECT column_name, data_type FROM duckdb_columns()
 WHERE database_name = current_database() AND schema_name = ? AND table_name = ?
 ORDER BY column_index
"""


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def digest_sql(schema, table, columns):
    """Row count and md5 of the sorted rows, each row its values cast to text
    (NULL as \\N) joined by the unit separator: equal for equal multisets."""
    vals = [f"coalesce(CAST({quote(c)} AS VARCHAR), '\\N')" for c in columns]
    row = f"concat_ws(chr(31), {', '.join(vals)})" if vals else "''"
    return (
        f"SELECT count(*), coalesce(md5(string_agg(r, chr(10) ORDER BY r)), '') "
        f"FROM (SELECT {row} AS r FROM {quote(schema)}.{quote(table)})"
    )


def relations(db_path, skip_cols):
    """{schema.name: {kind, columns, count, digest}} of a DuckDB file."""
    con = duckdb.connect(str(db_path), read_only=True)
    out = {}
    try:
        for schema, name, kind in con.execute(RELATIONS_SQL).fetchall():
            cols = con.execute(COLUMNS_SQL, [schema, name]).fetchall()
            keep = [c for c, _ in cols if c not in skip_cols]
            try:
                n, d = con.execute(digest_sql(schema, name, keep)).fetchone()
            except duckdb.Error as e:  # a view over something that is gone
                n, d = None, f"error: {str(e).splitlines()[0]}"
            out[f"{schema}.{name}"] = {
                "kind": kind,
                "columns": ", ".join(f"{c} {t}" for c, t in cols),
                "count": n,
                "digest": d,
            }
    finally:
        con.close()
    return out


def statuses(project_dir):
    """{unique_id: status} from target/run_results.json (empty if none)."""
    p = project_dir / "target" / "run_results.json"
    if not p.exists():
        return {}
    rr = json.loads(p.read_text())
    return {r["unique_id"]: r["status"] for r in rr.get("results", [])}


def setup(cfg, work, db):
    stmts = []
    for s in cfg.get("setup", []):
        if "{table}" in s:
            stmts += [s.format(dir=work, table=t) for t in cfg.get("setup_tables", [])]
        else:
            stmts.append(s.format(dir=work))
    if stmts:
        con = duckdb.connect(str(db))
        try:
            for s in stmts:
                con.execute(s)
        finally:
            con.close()


def build(tool_argv, work, db, runs):
    """Run `build` `runs` times; (seconds, [statuses per run], last output)."""
    env = dict(os.environ, BENCH_DB=str(db), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    took, per_run, out = 0.0, [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(
            tool_argv + ["build", "--project-dir", str(work), "--profiles-dir", str(work)],
            cwd=work, env=env, capture_output=True, text=True,
        )
        took += time.perf_counter() - t0
        out = p.stdout + p.stderr
        per_run.append(statuses(work))
    return took, per_run, out


def compare(name, cfg, dbt, tarmac, keep, write_golden):
    src = PROJECTS / name
    runs = int(cfg.get("runs", 1))
    volatile = set(cfg.get("volatile", []))
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix=f"real-{name}-"))
    res = {}
    for tool, argv in (("dbt", [dbt]), ("tarmac", [tarmac])):
        work = base / tool / name
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(src, work)
        db = work / "bench.duckdb"
        setup(cfg, work, db)
        took, per_run, out = build(argv, work, db, runs)
        res[tool] = {
            "time": took,
            "statuses": per_run,
            "relations": relations(db, volatile) if db.exists() else {},
            "out": out,
            "work": work,
        }
    d, t = res["dbt"], res["tarmac"]

    problems, known = [], []
    known_rel = cfg.get("known", {})
    rel_names = sorted(set(d["relations"]) | set(t["relations"]))
    rel_ok = 0
    for r in rel_names:
        a, b = d["relations"].get(r), t["relations"].get(r)
        if a == b:
            rel_ok += 1
        elif a is None or b is None:
            problems.append(f"relation {r}: only in {'tarmac' if a is None else 'dbt'}")
        else:
            for k in ("kind", "columns", "count", "digest"):
                if a[k] != b[k]:
                    msg = f"relation {r}: {k} dbt={a[k]!r} tarmac={b[k]!r}"
                    if r in known_rel:
                        known.append(f"{msg} (known: {known_rel[r]})")
                    else:
                        problems.append(msg)
    st_total = st_ok = 0
    for i in range(runs):
        sa, sb = d["statuses"][i], t["statuses"][i]
        for uid in sorted(set(sa) | set(sb)):
            st_total += 1
            if sa.get(uid) == sb.get(uid):
                st_ok += 1
            else:
                problems.append(f"run {i + 1} {uid}: dbt={sa.get(uid)} tarmac={sb.get(uid)}")
    tests = sum(1 for u in d["statuses"][-1] if u.startswith(("test.", "unit_test.")))

    if write_golden:
        skip = volatile | set(cfg.get("date_dependent", [])) | set(cfg.get("golden_skip_columns", []))
        GOLDEN.mkdir(parents=True, exist_ok=True)
        g = {
            "runs": runs,
            "skip_columns": sorted(skip),
            "statuses": d["statuses"],
            "relations": relations(d["work"] / "bench.duckdb", skip),
        }
        (GOLDEN / f"{name}.json").write_text(json.dumps(g, indent=1, sort_keys=True) + "\n")

    return {
        "name": name,
        "relations": f"{rel_ok}/{len(rel_names)}",
        "statuses": f"{st_ok}/{st_total}",
        "tests": tests,
        "dbt_s": d["time"],
        "tarmac_s": t["time"],
        "problems": problems,
        "known": known,
        "outputs": (d["out"], t["out"]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dbt", required=True)
    ap.add_argument("--tarmac", required=True)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--write-golden", action="store_true")
    ap.add_argument("--keep", help="build under this directory and keep it")
    ap.add_argument("--verbose", action="store_true", help="print both tools' output on a difference")
    a = ap.parse_args()
    cfgs = json.loads((PROJECTS / "projects.json").read_text())
    names = [n for n in sorted(cfgs) if not n.startswith("_") and (not a.only or n in a.only)]
    rows = [compare(n, cfgs[n], a.dbt, a.tarmac, a.keep, a.write_golden) for n in names]

    hdr = f"{'project':<22}{'relations':>10}{'statuses':>10}{'tests':>7}{'dbt s':>9}{'tarmac s':>10}{'ratio':>8}"
    print(hdr)
    print("-" * len(hdr))
    td = tt = 0.0
    bad = False
    for r in rows:
        td += r["dbt_s"]
        tt += r["tarmac_s"]
        ratio = r["dbt_s"] / r["tarmac_s"] if r["tarmac_s"] else float("nan")
        rel = r["relations"] + ("*" if r["known"] else "")
        print(f"{r['name']:<22}{rel:>10}{r['statuses']:>10}{r['tests']:>7}"
              f"{r['dbt_s']:>9.2f}{r['tarmac_s']:>10.2f}{ratio:>7.1f}x")
    print("-" * len(hdr))
    print(f"{'total':<49}{td:>9.2f}{tt:>10.2f}{(td / tt if tt else float('nan')):>7.1f}x")
    print("(* = a known difference, not the engine's, listed below)")
    print("(statuses: every node of every run, models/seeds/snapshots/tests; ratio = dbt time / tarmac time)")
    for r in rows:
        for k in r["known"]:
            print(f"\n{r['name']}: {k}")
        if r["problems"]:
            bad = True
            print(f"\n{r['name']}: {len(r['problems'])} difference(s)")
            for p in r["problems"]:
                print(f"  {p}")
            if a.verbose:
                print("--- dbt output (last run) ---\n" + r["outputs"][0])
                print("--- tarmac output (last run) ---\n" + r["outputs"][1])
    if not bad:
        print("\nall relations and statuses equal")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
