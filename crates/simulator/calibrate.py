#!/usr/bin/env python3
"""Calibration of the simulator on the real FlightLabs archive for Bogotá.

Reads ../shared/flightlabs-archive/BOG/*.csv from the repository's root (21 days, 12,665 records) and
prints the figures that are hard-coded in src/calibration.rs and
src/generate.rs. Run it again if the archive grows:

    python3 crates/simulator/calibrate.py [ARCHIVE_DIR] [--rust]

`--rust` also prints the long tables (routes, models, gates) as Rust literals.

Nested columns are Python dict literals, so they are parsed with
ast.literal_eval (a quote replacement would corrupt names with apostrophes).

The archive has two "eras" that look different and are modelled as two
profiles by the simulator:
- 2024-08-12..25 ("Basic"): quality ['Basic'], statuses mostly Unknown, no
  gate or belt: what the provider knows from schedules only. Used for days
  after "today".
- 2025-03-02..08 ("Live"): quality ['Basic','Live'], final statuses (Arrived,
  Departed, Canceled), revisedTime always, gates and belts. Used for days up
  to "today". 2025-03-02 was evidently fetched during that very day (Boarding,
  GateClosed and Expected around 13:30 local), so the past-day status mix
  leaves it out.
"""
import ast
import collections
import csv
import glob
import math
import os
import re
import statistics
import sys
from datetime import datetime

C = collections.Counter
csv.field_size_limit(10**9)

args = [a for a in sys.argv[1:] if not a.startswith("--")]
RUST = "--rust" in sys.argv
ARCHIVE = args[0] if args else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "flightlabs-archive", "BOG"
)
SAME_DAY_FETCH = "2025-03-02"


def load():
    rows = []
    for f in sorted(glob.glob(os.path.join(ARCHIVE, "*.csv"))):
        day = os.path.basename(f)[:-4].replace("_", "-")
        with open(f, newline="", encoding="utf-8") as fh:
            for i, r in enumerate(csv.DictReader(fh)):
                r["_day"], r["_i"] = day, i
                r["_era"] = "basic" if day < "2025" else "live"
                r["m"] = ast.literal_eval(r["movement"])
                r["a"] = ast.literal_eval(r["aircraft"]) if r["aircraft"] else None
                r["al"] = ast.literal_eval(r["airline"])
                r["dir"] = r["flight_type"]
                rows.append(r)
    return rows


def pct(n, d):
    return f"{100.0 * n / d:.2f}%" if d else "-"


def mix(counter):
    total = sum(counter.values())
    return ", ".join(f"{k}={pct(v, total)}" for k, v in counter.most_common())


def minutes(t):
    return datetime.strptime(t[:16], "%Y-%m-%d %H:%M")


def section(title):
    print()
    print("== " + title)


rows = load()
days = sorted({r["_day"] for r in rows})
DIRS = ["arrival", "departure"]
ERAS = ["basic", "live"]
print(f"{len(rows)} records, {len(days)} days: {days[0]} .. {days[-1]}")

# ---------------------------------------------------------------- volume
section("records per day per direction")
for d in DIRS:
    per_day = C(r["_day"] for r in rows if r["dir"] == d)
    v = [per_day[x] for x in days]
    print(f"{d}: mean {statistics.mean(v):.1f} sd {statistics.pstdev(v):.1f} min {min(v)} max {max(v)}")
    for era in ERAS:
        ve = [per_day[x] for x in days if (x < "2025") == (era == "basic")]
        print(f"   {era}: mean {statistics.mean(ve):.1f} min {min(ve)} max {max(ve)}")

# "physical" flights: one per (day, direction, scheduled UTC, other airport)
groups = collections.defaultdict(list)
for r in rows:
    other = r["m"]["airport"].get("icao") or r["m"]["airport"]["name"]
    groups[(r["_day"], r["dir"], r["m"]["scheduledTime"]["utc"], other)].append(r)
for d in DIRS:
    per_day = C(k[0] for k in groups if k[1] == d)
    v = [per_day[x] for x in days]
    print(f"physical {d}: mean {statistics.mean(v):.1f} min {min(v)} max {max(v)}")

# ---------------------------------------------------------------- repeats
section("exact repeats within a day")
full = C((r["_day"], r["dir"], r["movement"], r["number"], r["status"], r["aircraft"],
          r["airline"], r["callSign"], r["codeshareStatus"], r["isCargo"]) for r in rows)
repeats = sum(c - 1 for c in full.values() if c > 1)
print(f"{repeats} repeats in {len(rows)} records = {pct(repeats, len(rows))} "
      f"(multiplicities {dict(C(full.values()))})")
adjacent = other = 0
by_day = collections.defaultdict(list)
for r in rows:
    by_day[r["_day"]].append(r)
for rs in by_day.values():
    seen = {}
    for r in rs:
        k = (r["dir"], r["movement"], r["number"], r["status"], r["aircraft"])
        if k in seen:
            if r["_i"] - seen[k] == 1:
                adjacent += 1
            else:
                other += 1
        seen[k] = r["_i"]
print(f"adjacent in the file: {adjacent}, elsewhere: {other}")

# ---------------------------------------------------------------- statuses
section("status mix")
for era in ERAS:
    for d in DIRS:
        rs = [r for r in rows if r["_era"] == era and r["dir"] == d]
        print(f"{era} {d} ({len(rs)}): {mix(C(r['status'] for r in rs))}")
for d in DIRS:
    rs = [r for r in rows if r["_era"] == "live" and r["dir"] == d and r["_day"] != SAME_DAY_FETCH]
    print(f"live past days (without {SAME_DAY_FETCH}) {d} ({len(rs)}): {mix(C(r['status'] for r in rs))}")
    print("   counts:", dict(C(r["status"] for r in rs)))

section("codeshareStatus mix")
for era in ERAS:
    rs = [r for r in rows if r["_era"] == era]
    print(f"{era}: {mix(C(r['codeshareStatus'] for r in rs))}")
    print(f"   codeshareStatus x has callSign: {dict(C((r['codeshareStatus'], bool(r['callSign'])) for r in rs))}")

section("codeshares: same flight under several numbers")
distinct = C(len({r["number"] for r in v}) for v in groups.values())
print(f"distinct numbers per physical flight: {dict(sorted(distinct.items()))}")
shared = sum(c for k, c in distinct.items() if k > 1)
print(f"physical flights listed under >1 number: {pct(shared, len(groups))}")
partners = C()
copy_looks = C()
for v in groups.values():
    by_number = {}
    for r in v:
        by_number.setdefault(r["number"], r)
    if len(by_number) < 2:
        continue
    rs = list(by_number.values())
    ops = [r for r in rs if r["a"] and r["codeshareStatus"] != "IsCodeshared"]
    op = ops[0] if ops else rs[0]
    for r in rs:
        if r is op:
            continue
        # a copy is a real codeshare when it carries no aircraft of its own
        # (live era) or says IsCodeshared (basic era); other coincidences are
        # two flights that happen to share a minute and a destination.
        if r["a"] is None or r["codeshareStatus"] == "IsCodeshared":
            partners[(op["al"].get("iata"), r["al"].get("iata"))] += 1
            copy_looks[(r["_era"], r["codeshareStatus"], r["a"] is None,
                        r["callSign"] == op["callSign"], r["status"] == op["status"])] += 1
print("operator -> marketing partner:", partners.most_common())
print("copy looks (era, codeshareStatus, no aircraft, same callSign, same status):",
      copy_looks.most_common())

# ---------------------------------------------------------------- optional keys
section("optional keys present")
for era in ERAS:
    for d in DIRS:
        rs = [r for r in rows if r["_era"] == era and r["dir"] == d]
        n = len(rs)
        mk = C(k for r in rs for k in r["m"])
        ak = C(k for r in rs if r["a"] for k in r["a"])
        print(f"{era} {d}: " + ", ".join(
            f"{k}={pct(mk[k], n)}" for k in ["terminal", "revisedTime", "gate", "baggageBelt", "runwayTime"])
              + f", aircraft={pct(sum(1 for r in rs if r['a']), n)}"
              + f", aircraft.model={pct(ak['model'], n)}, aircraft.reg={pct(ak['reg'], n)}"
              + f", aircraft.modeS={pct(ak['modeS'], n)}"
              + f", callSign={pct(sum(1 for r in rs if r['callSign']), n)}")
print("callSign with reg:", dict(C((bool(r["callSign"]), bool(r["a"] and r["a"].get("reg"))) for r in rows)))
print("terminal values:", dict(C(r["m"].get("terminal") for r in rows)))
print("quality:", dict(C(tuple(r["m"]["quality"]) for r in rows)))
cargo = sum(1 for r in rows if r["isCargo"] == "True")
print(f"isCargo: {pct(cargo, len(rows))}")
print("other end given by name only (no codes):", pct(sum(1 for r in rows if "iata" not in r["m"]["airport"]), len(rows)))
print("empty number:", sum(1 for r in rows if not r["number"]))

# ---------------------------------------------------------------- times
section("scheduled local hour (BOG archive)")
for d in DIRS:
    h = C(int(r["m"]["scheduledTime"]["local"][11:13]) for r in rows
          if r["dir"] == d and r["m"]["scheduledTime"]["local"][:10] == r["_day"])
    print(f"{d}: {[h[i] for i in range(24)]}")
mins = C(int(r["m"]["scheduledTime"]["local"][14:16]) for r in rows)
print(f"minute: {[mins[i] for i in range(60)]}")
print("offsets:", dict(C(r["m"]["scheduledTime"]["local"][16:] for r in rows)))

section("revisedTime - scheduledTime (minutes)")
EDGES = [-180, -60, -30, -20, -10, -5, 0, 1, 5, 10, 20, 30, 60, 120, 240, 1440]  # [0, 1) = exactly on time
for era in ERAS:
    for d in DIRS:
        ds = [(minutes(r["m"]["revisedTime"]["utc"]) - minutes(r["m"]["scheduledTime"]["utc"])).total_seconds() / 60
              for r in rows if r["_era"] == era and r["dir"] == d and "revisedTime" in r["m"]
              and r["status"] != "Canceled"]
        if not ds:
            continue
        ds.sort()
        n = len(ds)
        q = [ds[int(p * (n - 1))] for p in (0, .05, .1, .25, .5, .75, .9, .95, .99, 1)]
        buckets = []
        for lo, hi in zip(EDGES, EDGES[1:]):
            buckets.append((lo, hi, sum(1 for x in ds if lo <= x < hi)))
        print(f"{era} {d} ({n}): quantiles {q}")
        print(f"   buckets [lo, hi) count: {buckets}")
canc = [r for r in rows if r["status"] == "Canceled" and "revisedTime" in r["m"]]
same = sum(1 for r in canc if r["m"]["revisedTime"]["utc"] == r["m"]["scheduledTime"]["utc"])
print(f"Canceled with revisedTime == scheduled: {same}/{len(canc)}")

# ---------------------------------------------------------------- airlines
section("airlines (share of records)")
als = C((r["al"].get("name"), r["al"].get("iata"), r["al"].get("icao")) for r in rows)
for k, c in als.most_common():
    rs = [r for r in rows if (r["al"].get("name"), r["al"].get("iata"), r["al"].get("icao")) == k]
    cs = sum(1 for r in rs if r["callSign"])
    cg = sum(1 for r in rs if r["isCargo"] == "True")
    digits = C(len(r["number"].split(" ")[-1]) for r in rs if r["number"])
    print(f"{c:5d} {pct(c, len(rows)):>7} {k} callSign={pct(cs, c)} cargo={pct(cg, c)} digits={dict(digits)}")

section("aircraft models")
print(mix(C((r["a"] or {}).get("model") for r in rows)))
print("registration shapes by airline:",
      C((r["al"].get("iata"), re.sub(r"[0-9]", "#", r["a"]["reg"])) for r in rows
        if r["a"] and r["a"].get("reg")).most_common(30))

section("other-end airports")
aps = C(tuple(sorted(r["m"]["airport"].items())) for r in rows if "iata" in r["m"]["airport"])
for k, c in aps.most_common():
    print(c, dict(k))

section("BOG terminals, gates and belts")
print("terminal 2 by airline:", C(r["al"].get("iata") for r in rows if r["m"].get("terminal") == "2").most_common())
print("gates:", C((r["m"].get("terminal"), r["m"]["gate"]) for r in rows if r["m"].get("gate")).most_common())
print("belts:", C((r["m"].get("terminal"), r["m"]["baggageBelt"]) for r in rows if r["m"].get("baggageBelt")).most_common())

if RUST:
    section("rust: BOG routes (operator airline iata, other airport iata, records)")
    routes = C()
    models = collections.defaultdict(C)
    for v in groups.values():
        by_number = {}
        for r in v:
            by_number.setdefault(r["number"], r)
        rs = list(by_number.values())
        ops = [r for r in rs if r["a"] and r["codeshareStatus"] != "IsCodeshared"]
        op = ops[0] if ops else rs[0]
        if "iata" in op["m"]["airport"]:
            routes[(op["al"].get("iata") or op["al"]["name"], op["m"]["airport"]["iata"])] += 1
        if op["a"] and op["a"].get("model"):
            models[op["al"].get("iata") or op["al"]["name"]][op["a"]["model"]] += 1
    line = []
    for (a, ap), c in sorted(routes.items(), key=lambda x: (-x[1], x[0])):
        line.append(f'("{a}", "{ap}", {c}),')
    for i in range(0, len(line), 6):
        print("    " + " ".join(line[i:i + 6]))
    section("rust: models per operator airline")
    for a, m in sorted(models.items(), key=lambda x: -sum(x[1].values())):
        print(f'    ("{a}", &[' + ", ".join(f'("{k}", {c})' for k, c in m.most_common()) + "]),")
