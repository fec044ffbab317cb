#!/usr/bin/env python3
"""Builds real dbt-duckdb projects with dbt-core + dbt-duckdb and with
Tarmac, each in its own copy and DuckDB file, and holds every relation
(columns and types, row count, order-independent content digest) and every
node's status from run_results.json (models, seeds, snapshots, tests, unit
tests: pass/fail/warn/error/skipped) of one against the other. Prints a
table per project and the wall-time ratio.

The projects are listed in bench/projects/projects.json: the four vendored
under bench/projects/<name>/, and the corpus, named there by origin
(repository, commit, path, licence) and materialised outside the clone by
bench/corpus.py (in $TARMAC_CORPUS, default ~/.cache/tarmac-corpus). A
corpus project is built unchanged; the harness writes only its profile (a
duckdb target at the bench's file, see profile_for) beside the copy.

runs > 1 builds again on the same database; `change` in projects.json says
what changes in the inputs before the second run (seed files rewritten,
SQL on the database, --vars), so incremental models and snapshots see new
data.

Usage (bench/real_projects.sh picks the binaries):
  python3 real_projects.py --dbt DBT --tarmac TARMAC [--only NAME ...]
                           [--repeats N] [--json FILE]
                           [--write-golden] [--keep DIR]

--repeats N builds every project N times with each tool (a fresh copy each
time) and reports the median build time of each; the totals are sums of
per-project medians. The comparison is the first repeat's.

--write-golden stores what *dbt* built (statuses per run, relations after the
last run) in crates/engine/tests/golden/real_projects/<name>.json, which the
engine's integration test (`crates/engine/tests/features.rs`) holds Tarmac's
build to without needing dbt.

Known differences (bench/projects/known_differences.json, see
bench/projects/README.md) are asserted, not skipped: each listed difference
must still be there, exactly as listed, and any other difference fails.

Needs the `duckdb` Python module (the dbt venv has it). Exit code 1 if any
relation or status differs.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = ROOT / "bench" / "projects"
KNOWN = PROJECTS / "known_differences.json"
sys.path.insert(0, str(ROOT / "bench"))
import corpus  # noqa: E402
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


def column_digests_sql(schema, table, columns):
    """One md5 per column: of its values cast to text (NULL as \\N), sorted,
    joined by newlines. A difference in the row digest is pinned to the
    columns whose digests differ."""
    if not columns:
        return None
    vals = ", ".join(
        f"coalesce(CAST({quote(c)} AS VARCHAR), '\\N') AS v{i}" for i, c in enumerate(columns)
    )
    aggs = ", ".join(
        f"coalesce(md5(string_agg(v{i}, chr(10) ORDER BY v{i})), '')" for i in range(len(columns))
    )
    return f"SELECT {aggs} FROM (SELECT {vals} FROM {quote(schema)}.{quote(table)})"


def relations(db_path, skip_cols):
    """{schema.name: {kind, columns, count, digest, column_digests}} of a
    DuckDB file; columns in skip_cols are in no digest."""
    con = duckdb.connect(str(db_path), read_only=True)
    out = {}
    try:
        for schema, name, kind in con.execute(RELATIONS_SQL).fetchall():
            cols = con.execute(COLUMNS_SQL, [schema, name]).fetchall()
            # a volatile entry is a column name, or schema.relation.column
            keep = [
                c
                for c, _ in cols
                if c not in skip_cols and f"{schema}.{name}.{c}" not in skip_cols
            ]
            try:
                n, d = con.execute(digest_sql(schema, name, keep)).fetchone()
                q = column_digests_sql(schema, name, keep)
                per = dict(zip(keep, con.execute(q).fetchone())) if q else {}
            except duckdb.Error as e:  # a view over something that is gone
                n, d, per = None, f"error: {str(e).splitlines()[0]}", {}
            out[f"{schema}.{name}"] = {
                "kind": kind,
                "columns": ", ".join(f"{c} {t}" for c, t in cols),
                "count": n,
                "digest": d,
                "column_digests": per,
            }
    finally:
        con.close()
    return out


def relation_differences(a, b):
    """How relation `a` (dbt's) and `b` (Tarmac's) differ, as the names
    known_differences.json uses: `only in dbt`, `only in tarmac`, `kind`,
    `columns` (names or types), `count`, then `values:<column>` for each
    column whose values differ, or `rows` when every column holds the same
    values but not in the same rows. [] when equal. The same rules are in
    crates/engine/tests/features.rs (relation_differences): keep them equal."""
    if a is None or b is None:
        return ["only in tarmac" if a is None else "only in dbt"]
    out = [k for k in ("kind", "columns", "count") if a[k] != b[k]]
    if out:
        return out
    ca, cb = a.get("column_digests", {}), b.get("column_digests", {})
    out = [f"values:{c}" for c in ca if ca.get(c) != cb.get(c)]
    if not out and a["digest"] != b["digest"]:
        out = ["rows"]
    return out


def known_differences(name):
    """The known differences of project `name`: ({relation: (sorted
    differs, reason)}, {(run, node): (dbt, tarmac, reason)})."""
    all_known = json.loads(KNOWN.read_text()) if KNOWN.exists() else {}
    k = all_known.get(name, {})
    rels = {r: (sorted(v["differs"]), v["reason"]) for r, v in k.get("relations", {}).items()}
    sts = {(s["run"], s["node"]): (s["dbt"], s["tarmac"], s["reason"]) for s in k.get("statuses", [])}
    return rels, sts


def statuses(project_dir):
    """{unique_id: status} from target/run_results.json (empty if none)."""
    p = project_dir / "target" / "run_results.json"
    if not p.exists():
        return {}
    rr = json.loads(p.read_text())
    return {r["unique_id"]: r["status"] for r in rr.get("results", [])}


def source_dir(name, cfg, corpus_root):
    """The project's files: vendored, or materialised in the corpus."""
    if "origin" in cfg:
        return corpus_root / name
    return PROJECTS / name


def profile_for(work, cfg, db, tool_dir):
    """For a corpus project, a profiles.yml in `tool_dir` (outside the copy)
    with one duckdb output at `db`, under the profile name its
    dbt_project.yml asks for and the target name projects.json gives
    (default `duckdb`, the name the packages' own profiles use). Vendored
    projects carry their own profile reading BENCH_DB: returns `work`."""
    if "origin" not in cfg:
        return work
    import yaml

    prof = yaml.safe_load((work / "dbt_project.yml").read_text())["profile"]
    target = cfg.get("target", "duckdb")
    out = {prof: {"target": target, "outputs": {target: {
        "type": "duckdb", "path": str(db), "threads": int(cfg.get("threads", 4)),
        **cfg.get("profile_extra", {})}}}}
    tool_dir.mkdir(parents=True, exist_ok=True)
    (tool_dir / "profiles.yml").write_text(json.dumps(out, indent=1) + "\n")
    return tool_dir


def apply_change(cfg, work, db):
    """What projects.json says changes between the first and second run:
    `files` {path in project: new text}, `sql` [statements on the database].
    Returns the extra CLI arguments (`vars`)."""
    ch = cfg.get("change", {})
    for rel, text in ch.get("files", {}).items():
        (work / rel).write_text(text)
    if ch.get("sql"):
        con = duckdb.connect(str(db))
        try:
            for s in ch["sql"]:
                con.execute(s)
        finally:
            con.close()
    if ch.get("vars"):
        return ["--vars", json.dumps(ch["vars"])]
    return []


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


def build(tool_argv, work, db, runs, cfg, profiles):
    """Run `build` `runs` times, applying the configured change before the
    second; (seconds, [statuses per run], last output)."""
    # PYTHONHASHSEED: dbt iterates Python sets of strings in places (the
    # order a model's unit tests run in under `build`, columns a package
    # builds from a set), and Python salts string hashes per process, so
    # without a fixed seed dbt's own results change from run to run.
    env = dict(os.environ, BENCH_DB=str(db), DBT_SEND_ANONYMOUS_USAGE_STATS="false", PYTHONHASHSEED="0")
    took, per_run, out = 0.0, [], ""
    extra = list(cfg.get("args", []))
    for i in range(runs):
        if i == 1:
            extra += apply_change(cfg, work, db)
        rr = work / "target" / "run_results.json"
        if rr.exists():
            rr.unlink()
        t0 = time.perf_counter()
        p = subprocess.run(
            tool_argv + ["build", "--project-dir", str(work), "--profiles-dir", str(profiles)] + extra,
            cwd=work, env=env, capture_output=True, text=True,
        )
        took += time.perf_counter() - t0
        out = p.stdout + p.stderr
        per_run.append(statuses(work))
    return took, per_run, out


def one_build(name, cfg, src, tool, argv, base, volatile, runs):
    work = base / tool / name
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(src, work, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", "*.duckdb.wal"))
    db = work / "bench.duckdb"
    profiles = profile_for(work, cfg, db, base / tool / f"_profiles_{name}")
    setup(cfg, work, db)
    took, per_run, out = build(argv, work, db, runs, cfg, profiles)
    return {
        "time": took,
        "statuses": per_run,
        "relations": relations(db, volatile) if db.exists() else {},
        "out": out,
        "work": work,
    }


def unit_test_groups(dbt_st, tarmac_st):
    """Tarmac's statuses with each model's unit tests compared as a group.

    dbt's `build` runs a model's unit tests one after another in the order
    of a Python set and skips the rest after the first that does not pass;
    Tarmac does the same in name order. Which test ran first is an accident
    of hashing, so when both tools give the group the same statuses (the
    same number of pass, fail, error, skipped), each test counts as equal;
    otherwise every test is compared by itself."""
    groups = {}
    for uid in set(dbt_st) | set(tarmac_st):
        if uid.startswith("unit_test."):
            groups.setdefault(uid.rsplit(".", 1)[0], []).append(uid)
    out = dict(tarmac_st)
    for members in groups.values():
        a = sorted(str(dbt_st.get(u)) for u in members)
        b = sorted(str(tarmac_st.get(u)) for u in members)
        if a == b and all(u in dbt_st and u in tarmac_st for u in members):
            for u in members:
                out[u] = dbt_st[u]
    return out


# the statuses a data test that ran to a verdict can have
VERDICTS = {"pass", "warn", "fail"}


def compare(name, cfg, dbt, tarmac, keep, write_golden, repeats=1, corpus_root=None):
    src = source_dir(name, cfg, corpus_root)
    runs = int(cfg.get("runs", 1))
    volatile = set(cfg.get("volatile", []))
    random_tests = cfg.get("random_data_tests", {})
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix=f"real-{name}-"))
    res = {}
    times = {"dbt": [], "tarmac": []}
    # the tools alternate within each repeat so that both see the same
    # machine load; the comparison is the first repeat's
    for rep in range(repeats):
        for tool, argv in (("dbt", [dbt]), ("tarmac", [tarmac])):
            r = one_build(name, cfg, src, tool, argv, base, volatile, runs)
            times[tool].append(r["time"])
            if rep == 0:
                res[tool] = r
    for tool in times:
        res[tool]["time"] = statistics.median(times[tool])
    d, t = res["dbt"], res["tarmac"]

    problems, known = [], []
    known_rel, known_st = known_differences(name)
    rel_names = sorted(set(d["relations"]) | set(t["relations"]) | set(known_rel))
    rel_ok = 0
    for r in rel_names:
        a, b = d["relations"].get(r), t["relations"].get(r)
        diffs = relation_differences(a, b) if (a, b) != (None, None) else []
        if not diffs:
            rel_ok += 1
        listed, reason = known_rel.get(r, ([], None))
        if sorted(diffs) == listed:
            if listed:
                known.append(f"relation {r}: {', '.join(listed)} (known: {reason})")
            continue
        detail = []
        for k in ("kind", "columns", "count"):
            if a and b and a[k] != b[k]:
                detail.append(f"{k} dbt={a[k]!r} tarmac={b[k]!r}")
        what = ", ".join(diffs) or "none"
        if listed:
            problems.append(
                f"relation {r}: differs in [{what}] but known_differences.json lists "
                f"[{', '.join(listed)}] (a known difference that has gone or changed fails) "
                + "; ".join(detail)
            )
        else:
            problems.append(f"relation {r}: {what} " + "; ".join(detail))
    st_total = st_ok = 0
    for i in range(runs):
        sa, sb = d["statuses"][i], unit_test_groups(d["statuses"][i], t["statuses"][i])
        for uid in sorted(set(sa) | set(sb) | {n for (run, n) in known_st if run == i + 1}):
            st_total += 1
            got = (sa.get(uid), sb.get(uid))
            if uid in random_tests and set(got) <= VERDICTS and got[0] != got[1]:
                # data drawn with random() in each build: any verdict is
                # right, an error or a skip is not
                known.append(f"run {i + 1} {uid}: dbt={got[0]} tarmac={got[1]} "
                             f"(a test on random data: {random_tests[uid]})")
                got = (got[0], got[0])
            if got[0] == got[1]:
                st_ok += 1
            k = known_st.get((i + 1, uid))
            if k and got == (k[0], k[1]):
                known.append(f"run {i + 1} {uid}: dbt={got[0]} tarmac={got[1]} (known: {k[2]})")
            elif k:
                problems.append(
                    f"run {i + 1} {uid}: dbt={got[0]} tarmac={got[1]} but known_differences.json "
                    f"lists dbt={k[0]} tarmac={k[1]} (a known difference that has gone or changed fails)"
                )
            elif got[0] != got[1]:
                problems.append(f"run {i + 1} {uid}: dbt={got[0]} tarmac={got[1]}")
    tests = sum(1 for u in d["statuses"][-1] if u.startswith(("test.", "unit_test.")))

    if write_golden:
        skip = volatile | set(cfg.get("date_dependent", []))
        GOLDEN.mkdir(parents=True, exist_ok=True)
        g = {
            "runs": runs,
            "skip_columns": sorted(skip),
            "statuses": d["statuses"],
            "relations": relations(d["work"] / "bench.duckdb", skip),
        }
        (GOLDEN / f"{name}.json").write_text(json.dumps(g, indent=1, sort_keys=True) + "\n")

    if not keep:
        shutil.rmtree(base, ignore_errors=True)
    return {
        "name": name,
        "relations": f"{rel_ok}/{len(rel_names)}",
        "statuses": f"{st_ok}/{st_total}",
        "rel_ok": rel_ok,
        "rel_total": len(rel_names),
        "st_ok": st_ok,
        "st_total": st_total,
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
    ap.add_argument("--skip", nargs="*", default=[], help="leave these projects out")
    ap.add_argument("--repeats", type=int, default=1, help="builds per tool and project; times are medians")
    ap.add_argument("--corpus", help="corpus directory (default $TARMAC_CORPUS or ~/.cache/tarmac-corpus)")
    ap.add_argument("--json", help="write the per-project results here")
    ap.add_argument("--write-golden", action="store_true")
    ap.add_argument("--keep", help="build under this directory and keep it")
    ap.add_argument("--verbose", action="store_true", help="print both tools' output on a difference")
    a = ap.parse_args()
    cfgs = json.loads((PROJECTS / "projects.json").read_text())
    corpus_root = corpus.corpus_dir(a.corpus)
    names = [n for n in sorted(cfgs) if not n.startswith("_") and (not a.only or n in a.only)
             and n not in a.skip]
    missing = [n for n in names if "origin" in cfgs[n] and not corpus.ready(n, cfgs[n], corpus_root)]
    if missing:
        print(f"not materialised in {corpus_root} (run bench/corpus.py): {' '.join(missing)}", file=sys.stderr)
        return 2
    rows = []
    for n in names:
        t0 = time.perf_counter()
        rows.append(compare(n, cfgs[n], a.dbt, a.tarmac, a.keep, a.write_golden, a.repeats, corpus_root))
        print(f"{n}: {rows[-1]['relations']} relations, {rows[-1]['statuses']} statuses equal "
              f"({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)

    hdr = (f"{'project':<24}{'relations':>11}{'statuses':>10}{'tests':>7}"
           f"{'dbt s':>9}{'tarmac s':>10}{'ratio':>8}")
    print(hdr)
    print("-" * len(hdr))
    td = tt = 0.0
    ro = rt = so = st = 0
    bad = False
    for r in rows:
        td += r["dbt_s"]
        tt += r["tarmac_s"]
        ro, rt, so, st = ro + r["rel_ok"], rt + r["rel_total"], so + r["st_ok"], st + r["st_total"]
        ratio = r["dbt_s"] / r["tarmac_s"] if r["tarmac_s"] else float("nan")
        rel = r["relations"] + ("*" if r["known"] else "")
        print(f"{r['name']:<24}{rel:>11}{r['statuses']:>10}{r['tests']:>7}"
              f"{r['dbt_s']:>9.2f}{r['tarmac_s']:>10.2f}{ratio:>7.1f}x")
    print("-" * len(hdr))
    rel_pct = 100.0 * ro / rt if rt else 100.0
    st_pct = 100.0 * so / st if st else 100.0
    print(f"{f'total ({len(rows)} projects)':<24}{f'{ro}/{rt}':>11}{f'{so}/{st}':>10}{'':>7}"
          f"{td:>9.2f}{tt:>10.2f}{(td / tt if tt else float('nan')):>7.1f}x")
    print(f"relations equal {rel_pct:.1f}%, statuses equal {st_pct:.1f}%"
          + (f"; times are medians of {a.repeats} builds, totals sums of medians" if a.repeats > 1 else ""))
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
    if a.json:
        Path(a.json).write_text(json.dumps(
            [{k: v for k, v in r.items() if k != "outputs"} for r in rows], indent=1) + "\n")
    if not bad:
        print("\nall relations and statuses equal")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
