#!/usr/bin/env python3
"""Writes a synthetic FlightLabs archive in the old Python pipeline's format.

    gen_archive.py --records N --out DIR [--source DIR] [--start YYYY-MM-DD]

Replays the real files of the source archive (default: shared/flightlabs-archive/BOG beside
the repository) day after day, in date order and round and round, with the dates shifted:
output day k (starting at --start, default 2019-01-01) is a copy of source file k mod F with
every date moved by the same number of days (the file name, the `date` column where the file
has one, and every YYYY-MM-DD inside the `movement` literals, so UTC and local times stay
consistent). Each output file keeps its source's file-name style (2024-08-12.csv or
2025_03_02.csv), header order and CSV quoting byte for byte; only the dates differ. The
last day is cut short so the archive holds exactly N records (rows). Deterministic: the same
arguments give the same bytes. Standard library only.

Prints one JSON line: {"records": N, "files": F, "bytes": B, "seconds": S, "out": DIR}.
"""

import argparse
import csv
import datetime as dt
import io
import json
import os
import re
import sys
import time
from pathlib import Path

NAME_RE = re.compile(r"^(\d{4})([-_])(\d{2})[-_](\d{2})\.csv$")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
DEFAULT_SOURCE = Path(__file__).resolve().parent.parent.parent / "shared/flightlabs-archive/BOG"


class Source:
    """One real day file, read once."""

    def __init__(self, path: Path):
        m = NAME_RE.match(path.name)
        if not m:
            raise SystemExit(f"gen_archive: {path}: not a YYYY-MM-DD.csv or YYYY_MM_DD.csv file")
        self.path = path
        self.sep = m.group(2)
        self.day = dt.date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        self.header, self.rows = rows[0], rows[1:]
        # Columns whose text holds dates: movement (scheduled/revised/runway times) and date.
        self.dated = [i for i, h in enumerate(self.header) if h in ("movement", "date")]


def shifted(sources, start: dt.date):
    """(output date, source) for day 0, 1, 2, ... forever."""
    k = 0
    while True:
        yield start + dt.timedelta(days=k), sources[k % len(sources)]
        k += 1


def write_day(out_dir: Path, day: dt.date, src: Source, limit: int) -> tuple[int, int]:
    """Writes the copy of `src` for `day` with at most `limit` rows; (rows, bytes) written."""
    delta = day - src.day
    cache: dict[str, str] = {}

    def move(m: re.Match) -> str:
        old = m.group(0)
        new = cache.get(old)
        if new is None:
            new = (dt.date.fromisoformat(old) + delta).isoformat()
            cache[old] = new
        return new

    rows = src.rows[:limit]
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(src.header)
    for row in rows:
        row = list(row)
        for i in src.dated:
            row[i] = DATE_RE.sub(move, row[i])
        w.writerow(row)
    name = f"{day.year:04d}{src.sep}{day.month:02d}{src.sep}{day.day:02d}.csv"
    data = buf.getvalue().encode("utf-8")
    tmp = out_dir / (name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out_dir / name)
    return len(rows), len(data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, required=True, help="how many records (CSV rows) in all")
    ap.add_argument("--out", type=Path, required=True, help="folder to write (created; must hold no CSV files)")
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help=f"real archive to replay (default {DEFAULT_SOURCE})")
    ap.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2019, 1, 1), help="date of the first day (default 2019-01-01)")
    args = ap.parse_args()
    t0 = time.perf_counter()

    if args.records < 1:
        ap.error("--records must be at least 1")
    paths = sorted(p for p in args.source.glob("*.csv") if NAME_RE.match(p.name))
    if not paths:
        raise SystemExit(f"gen_archive: no day files (YYYY-MM-DD.csv, YYYY_MM_DD.csv) in {args.source}")
    sources = sorted((Source(p) for p in paths), key=lambda s: s.day)
    if not any(s.rows for s in sources):
        raise SystemExit(f"gen_archive: the files in {args.source} hold no records")

    args.out.mkdir(parents=True, exist_ok=True)
    if any(args.out.glob("*.csv")):
        raise SystemExit(f"gen_archive: {args.out} already holds CSV files; give an empty or new folder")

    records = files = nbytes = 0
    for day, src in shifted(sources, args.start):
        if records >= args.records:
            break
        if not src.rows:
            continue
        n, b = write_day(args.out, day, src, args.records - records)
        records += n
        files += 1
        nbytes += b

    print(json.dumps({
        "records": records,
        "files": files,
        "bytes": nbytes,
        "seconds": round(time.perf_counter() - t0, 3),
        "out": str(args.out),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
