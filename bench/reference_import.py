#!/usr/bin/env python3
"""Reference peer for `tarmac ingest import`: the old Python pipeline's parsing, without pandas.

    reference_import.py [--db FILE] ARCHIVE_DIR_OR_CSV...

For every day file (YYYY-MM-DD.csv or YYYY_MM_DD.csv; the date of a file is its name): the
standard library's `csv` reader, `ast.literal_eval` on the movement/aircraft/airline columns,
one record per row in the API's shape (`json.dumps`), with the typed top-level fields (number,
status, codeshareStatus, isCargo, callSign, scheduled UTC time) and the file's date, code and
flight_type. The rows go to a newline-delimited JSON file that DuckDB's own reader
(`read_json`) loads into a table shaped like Tarmac's bronze, in one transaction: the fastest
way into DuckDB without pandas, so the reference is not slowed by row-at-a-time inserts.

Prints one JSON line:
  {"records": N, "seconds": S, "parse_seconds": P, "load_seconds": L, "files": F}
S is the wall time from after the imports (Python's start-up and `import duckdb` are not
counted) to the commit; P of it is reading and converting (csv + literal_eval + json.dumps),
L the DuckDB load. Needs duckdb (bench/setup.sh makes bench/.venv with it).
"""

import argparse
import ast
import csv
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import duckdb

NAME_RE = re.compile(r"^(\d{4})[-_](\d{2})[-_](\d{2})\.csv$")

TABLE = "bronze.flightlabs_historical"
DDL = f"""
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE OR REPLACE TABLE {TABLE} (
    date DATE NOT NULL,
    code VARCHAR NOT NULL,
    flight_type VARCHAR NOT NULL,
    number VARCHAR,
    scheduled_utc VARCHAR,
    status VARCHAR,
    codeshare_status VARCHAR,
    is_cargo BOOLEAN,
    call_sign VARCHAR,
    record JSON NOT NULL,
    source_file VARCHAR NOT NULL
);
"""
COLUMNS = {
    "date": "DATE", "code": "VARCHAR", "flight_type": "VARCHAR", "number": "VARCHAR",
    "scheduled_utc": "VARCHAR", "status": "VARCHAR", "codeshare_status": "VARCHAR",
    "is_cargo": "BOOLEAN", "call_sign": "VARCHAR", "record": "JSON", "source_file": "VARCHAR",
}


def day_files(paths):
    """The day files named on the command line, folders expanded, sorted by date."""
    found = []
    for p in map(Path, paths):
        candidates = sorted(p.glob("*.csv")) if p.is_dir() else [p]
        if p.is_dir() and not candidates:
            raise SystemExit(f"reference_import: no CSV files in {p}")
        for f in candidates:
            m = NAME_RE.match(f.name)
            if not m:
                raise SystemExit(f"reference_import: {f}: name is not YYYY-MM-DD.csv or YYYY_MM_DD.csv")
            found.append((f"{m.group(1)}-{m.group(2)}-{m.group(3)}", f))
    found.sort()
    return found


def literal(text):
    """A nested cell: a Python literal, or nothing (aircraft is often empty)."""
    return ast.literal_eval(text) if text else None


def convert_file(day, path, out):
    """Reads and converts one day file, writing one JSON line per row; returns the rows."""
    n = 0
    with path.open(newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            movement = literal(rec["movement"])
            scheduled = ((movement or {}).get("scheduledTime") or {}).get("utc")
            is_cargo = {"True": True, "False": False}.get(rec["isCargo"])
            call_sign = rec["callSign"] or None
            document = {
                "movement": movement,
                "number": rec["number"],
                "callSign": call_sign,
                "status": rec["status"],
                "codeshareStatus": rec["codeshareStatus"],
                "isCargo": is_cargo,
                "aircraft": literal(rec["aircraft"]),
                "airline": literal(rec["airline"]),
            }
            out.write(json.dumps({
                "date": day, "code": rec["code"], "flight_type": rec["flight_type"],
                "number": rec["number"] or None, "scheduled_utc": scheduled, "status": rec["status"],
                "codeshare_status": rec["codeshareStatus"], "is_cargo": is_cargo,
                "call_sign": call_sign, "record": document, "source_file": path.name,
            }, ensure_ascii=False))
            out.write("\n")
            n += 1
    return n


def main():
    t0 = time.perf_counter()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", metavar="ARCHIVE_DIR_OR_CSV")
    ap.add_argument("--db", help="DuckDB file to write (default: a temporary one, deleted at the end)")
    args = ap.parse_args()

    files = day_files(args.paths)
    with tempfile.TemporaryDirectory(prefix="reference-import-") as tmp:
        db = args.db or os.path.join(tmp, "reference.duckdb")
        rows_path = os.path.join(tmp, "rows.ndjson")
        records = 0
        with open(rows_path, "w", encoding="utf-8") as out:
            for day, path in files:
                records += convert_file(day, path, out)
        t1 = time.perf_counter()
        con = duckdb.connect(db)
        con.execute(DDL)
        con.execute("BEGIN TRANSACTION")
        columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items()) + "}"
        con.execute(
            f"INSERT INTO {TABLE} SELECT * FROM read_json(?, format = 'newline_delimited', columns = {columns})",
            [rows_path],
        )
        con.execute("COMMIT")
        (count,) = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        con.close()
        t2 = time.perf_counter()
    if count != records:
        raise SystemExit(f"reference_import: table holds {count} rows, expected {records}")
    print(json.dumps({
        "records": records,
        "seconds": round(t2 - t0, 3),
        "parse_seconds": round(t1 - t0, 3),
        "load_seconds": round(t2 - t1, 3),
        "files": len(files),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
