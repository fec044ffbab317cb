#!/usr/bin/env python3
"""The warehouse's figures computed from the old pipeline's CSV files alone,
independently of Tarmac (Python standard library only: csv, ast, datetime).

    python3 bench/warehouse_figures.py [--json] ARCHIVE_DIR_OR_CSV...

What a Tarmac warehouse built from the same files (`tarmac ingest import`,
`tarmac build`) must hold:

- records: CSV rows read; rejected: rows without a scheduled UTC time, or
  whose literals do not parse (ingestion quarantines them); observations:
  the others. A row without a flight number (cargo: TAESCOL, GIRAG) is a
  movement like any other.
- movements: distinct (queried airport, direction, flight number trimmed and
  upper-cased, scheduled UTC instant); for a row without a flight number,
  (queried airport, direction, scheduled UTC instant, airline ICAO else IATA
  else name, registration else call sign); collapsed = observations -
  movements.
- by status / by direction: of the observation kept for each movement, by
  the warehouse's documented rule for archive observations (no fetch time):
  the most advanced status, then the later source file name, then the later
  row of that file.
- airports (distinct other-end IATA codes), airlines (distinct by IATA code,
  else ICAO code, else name), aircraft models, registrations: over the kept
  observations.

Files are identified by their bytes, as the importer does: a file whose
bytes were already read (under any name) adds nothing.
"""

import argparse
import ast
import csv
import hashlib
import json
import re
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

NAME_RE = re.compile(r"^(\d{4})[-_](\d{2})[-_](\d{2})\.csv$")
# flights.sql's flight_status_rank
RANK = {
    "Arrived": 12, "Canceled": 11, "Diverted": 10, "CanceledUncertain": 9, "Approaching": 8,
    "EnRoute": 7, "Departed": 6, "GateClosed": 5, "Boarding": 4, "CheckIn": 3, "Delayed": 2,
    "Expected": 1, "Unknown": 0,
}


def text(v):
    """Text as the warehouse keeps it: trimmed, NULL for '', 'nan' or None."""
    if v is None:
        return None
    v = str(v).strip()
    return None if v in ("", "nan") else v


def literal(cell):
    cell = (cell or "").strip()
    if cell in ("", "nan", "None"):
        return {}
    v = ast.literal_eval(cell)
    return v if isinstance(v, dict) else {}


def instant(s):
    """'2024-08-12 17:00Z' or with an offset -> aware datetime in UTC."""
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.fromisoformat(s).astimezone(timezone.utc)


def csv_files(paths):
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.iterdir() if NAME_RE.match(f.name))
        else:
            yield p


def figures(paths):
    seen_bytes = set()
    records = rejected = 0
    best = {}  # key -> (sort tuple, observation)
    count = Counter()
    for path in csv_files(paths):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen_bytes:
            continue
        seen_bytes.add(digest)
        rows = csv.DictReader(data.decode("utf-8").splitlines())
        for row_no, row in enumerate(rows):
            records += 1
            try:
                movement = literal(row.get("movement"))
                aircraft = literal(row.get("aircraft"))
                airline = literal(row.get("airline"))
            except (ValueError, SyntaxError):
                rejected += 1
                continue
            number = text(row.get("number"))
            utc = (movement.get("scheduledTime") or {}).get("utc")
            if not text(utc):
                rejected += 1
                continue
            key = (
                text(row.get("code")),
                text(row.get("flight_type")),
                number.upper() if number else None,
                instant(utc),
            )
            if number is None:
                # flight_observations.sql's key of a movement without a number
                key += (
                    text(airline.get("icao")) or text(airline.get("iata")) or text(airline.get("name")),
                    text(aircraft.get("reg")) or text(row.get("callSign")),
                )
            status = text(row.get("status"))
            obs = {
                "direction": key[1],
                "status": status,
                "airport_iata": text((movement.get("airport") or {}).get("iata")),
                "airline": (text(airline.get("iata")), text(airline.get("icao")), text(airline.get("name"))),
                "model": text(aircraft.get("model")),
                "reg": text(aircraft.get("reg")),
            }
            order = (RANK.get(status, -1), path.name, row_no)
            count[key] += 1
            if key not in best or order > best[key][0]:
                best[key] = (order, obs)
    kept = [obs for _, obs in best.values()]
    observations = records - rejected

    def airline_key(a):
        iata, icao, name = a
        if iata:
            return "iata:" + iata.upper()
        if icao:
            return "icao:" + icao.upper()
        return "name:" + name if name else None

    return {
        "files": len(seen_bytes),
        "records": records,
        "rejected": rejected,
        "observations": observations,
        "movements": len(kept),
        "collapsed": observations - len(kept),
        "movements_seen_more_than_once": sum(1 for n in count.values() if n > 1),
        "by_status": dict(sorted(Counter(o["status"] or "NULL" for o in kept).items())),
        "by_direction": dict(sorted(Counter(o["direction"] for o in kept).items())),
        "airports": len({o["airport_iata"] for o in kept if o["airport_iata"]}),
        "airlines": len({k for k in (airline_key(o["airline"]) for o in kept) if k}),
        "aircraft_models": len({o["model"] for o in kept if o["model"]}),
        "registrations": len({o["reg"] for o in kept if o["reg"]}),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object instead of text")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    f = figures(args.paths)
    if args.json:
        print(json.dumps(f, sort_keys=True))
        return
    for k, v in f.items():
        if isinstance(v, dict):
            print(f"{k}:")
            for kk, vv in v.items():
                print(f"  {kk:<20}{vv:>8}")
        else:
            print(f"{k:<22}{v:>8}")


if __name__ == "__main__":
    sys.exit(main())
