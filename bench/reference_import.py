#!/usr/bin/env python3
"""Reference peer for `tarmac ingest import`: the old Python pipeline's way of doing it.

    reference_import.py [--db FILE] ARCHIVE_DIR_OR_CSV...

For every day file (YYYY-MM-DD.csv or YYYY_MM_DD.csv; the date of a file is its name):
pandas.read_csv, `ast.literal_eval` on the movement/aircraft/airline columns, count repeats of
the same flight (number, direction, scheduled UTC time) within the day (kept, as bronze keeps them), build one record per
flight, and insert into a DuckDB table shaped like Tarmac's bronze: one JSON document per
record plus the typed top-level fields (number, status, codeshareStatus, isCargo, callSign)
and the file's date, code and flight_type.

Prints one JSON line: {"records": N, "seconds": S, "rows": R, "duplicates": D, "files": F}
where N is the records inserted, R the CSV rows read, D the repeats seen and S the wall
time from the start of this script (including importing pandas and duckdb) to the commit.
Needs pandas and duckdb: bench/setup.sh makes bench/.venv with them.
"""

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import ast  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402

NAME_RE = re.compile(r"^(\d{4})[-_](\d{2})[-_](\d{2})\.csv$")
NESTED = ("movement", "aircraft", "airline")

TABLE = "bronze.flightlabs_historical"
DDL = f"""
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE OR REPLACE TABLE {TABLE} (
    date DATE NOT NULL,
    code VARCHAR NOT NULL,
    flight_type VARCHAR NOT NULL,
    number VARCHAR NOT NULL,
    scheduled_utc VARCHAR,
    status VARCHAR,
    codeshare_status VARCHAR,
    is_cargo BOOLEAN,
    call_sign VARCHAR,
    record JSON NOT NULL,
    source_file VARCHAR NOT NULL
);
"""
COLUMNS = [
    "date", "code", "flight_type", "number", "scheduled_utc", "status",
    "codeshare_status", "is_cargo", "call_sign", "record", "source_file",
]


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


def import_file(day, path, con):
    """Reads, converts and inserts one day file; returns (rows read, records, duplicates)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    # Older files carry `code, flight_type, date`, newer ones only `flight_type, code`; the
    # date is the file's name either way.
    for col in NESTED:
        df[col] = df[col].map(literal)

    out = []
    seen = set()
    duplicates = 0
    for rec in df.to_dict("records"):
        movement = rec["movement"]
        scheduled = ((movement or {}).get("scheduledTime") or {}).get("utc")
        key = (rec["number"], rec["flight_type"], scheduled)
        # Counted, not dropped: Tarmac's bronze also keeps every record as received.
        if key in seen:
            duplicates += 1
        seen.add(key)
        is_cargo = {"True": True, "False": False}.get(rec["isCargo"])
        call_sign = rec["callSign"] or None
        document = {
            "movement": movement,
            "number": rec["number"],
            "callSign": call_sign,
            "status": rec["status"],
            "codeshareStatus": rec["codeshareStatus"],
            "isCargo": is_cargo,
            "aircraft": rec["aircraft"],
            "airline": rec["airline"],
        }
        out.append((
            day, rec["code"], rec["flight_type"], rec["number"], scheduled, rec["status"],
            rec["codeshareStatus"], is_cargo, call_sign,
            json.dumps(document, ensure_ascii=False), path.name,
        ))

    frame = pd.DataFrame(out, columns=COLUMNS)  # noqa: F841 (read by DuckDB by name)
    con.execute(f"INSERT INTO {TABLE} SELECT CAST(date AS DATE), * EXCLUDE (date) FROM frame")
    return len(df), len(out), duplicates


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", metavar="ARCHIVE_DIR_OR_CSV")
    ap.add_argument("--db", help="DuckDB file to write (default: a temporary one, deleted at the end)")
    args = ap.parse_args()

    files = day_files(args.paths)
    tmp = None
    if args.db:
        db = args.db
    else:
        tmp = tempfile.TemporaryDirectory(prefix="reference-import-")
        db = os.path.join(tmp.name, "reference.duckdb")

    con = duckdb.connect(db)
    con.execute(DDL)
    con.execute("BEGIN TRANSACTION")
    rows = records = duplicates = 0
    for day, path in files:
        r, n, d = import_file(day, path, con)
        rows += r
        records += n
        duplicates += d
    con.execute("COMMIT")
    (count,) = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    con.close()
    seconds = time.perf_counter() - T0
    if count != records:
        raise SystemExit(f"reference_import: table holds {count} rows, expected {records}")
    if tmp:
        tmp.cleanup()
    print(json.dumps({
        "records": records,
        "seconds": round(seconds, 3),
        "rows": rows,
        "duplicates": duplicates,
        "files": len(files),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
