#!/usr/bin/env bash
# The soak of issue 18: one writer, many readers, nothing fails.
#
# On the simulator with 10% faults (429, 500, timeouts, truncated bodies,
# cut JSON, 2% each) and a plan of 40 requests per 10 s, all at once:
#  - `tarmac orchestrate`: real-time polls every 5 s, a delta every minute,
#    models and tests when new data lands, docs generate every 2 minutes;
#  - a loop of `tarmac sql -c` queries, some of them long;
#  - `tarmac docs serve`, read in a loop;
#  - SIGKILL to the orchestrator twice, each time followed by a restart.
# Then it checks, independently of the code under test (python3, sqlite3
# and the duckdb CLI are not needed: the landing zone is read with zstd's
# CLI, the warehouse through `tarmac sql` in CSV):
#  - no run failed for a lock (exit 75 or "locked by another process");
#  - landing = bronze = silver: every landed body's records are in bronze
#    (rows + quarantine) exactly once, and silver.real_time_planes holds one
#    row per distinct (hex, updated) of bronze positions;
#  - the run history holds every run; interrupted runs are marked and retried;
#  - the plan held: the simulator refused no request for its rate limit.
# And prints the figures: runs, lock waits (p50/p99), records, rate headroom.
#
# Usage: bash bench/soak.sh [SECONDS]   (default 480; stops by itself;
#        the whole script is bounded to SECONDS + 120 s; CI runs 90)
# TARMAC_BIN picks the binary (default: the debug build of this checkout).
# DAY_SHAPE picks the simulator's days: realistic (default; BOG's 24 h
# curve) or archive (the shared archive's afternoon-only days).
# Injected 429s (the provider saying "over quota" at random, with
# Retry-After) are told apart from the plan's own limit by the simulator's
# log: "injected fault" against "rate limited". Only the latter counts
# against the plan.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${TARMAC_BIN:-${CARGO_TARGET_DIR:-target}/debug/tarmac}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
SECS=${1:-480}
DAY_SHAPE=${DAY_SHAPE:-realistic}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${ORCH:-}" ] && kill "$ORCH" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT
# a hard bound on the whole script, whatever happens
( sleep $((SECS + 120)); echo "soak: over its time bound, stopping"; kill -TERM $$ ) &
PIDS+=($!)
command -v zstdcat >/dev/null || { echo "soak: needs zstdcat (Debian: zstd)"; exit 1; }
command -v python3 >/dev/null || { echo "soak: needs python3"; exit 1; }

export TARMAC_STATE_HOME="$WORK/state-home"   # the shared rate window of this soak

cd "$WORK"
"$BIN" init . > /dev/null

TARMAC_LOG=info "$BIN" mock-api --addr 127.0.0.1:0 --seed 7 --day-shape "$DAY_SHAPE" --rate-limit 40/10 \
  --faults "429=0.02,500=0.02,timeout=0.02,truncate=0.02,malformed_json=0.02" \
  > mock.out 2> mock.err &
PIDS+=($!)
for _ in $(seq 100); do [ -s mock.out ] && break; sleep 0.1; done
API=$(head -1 mock.out | sed 's/listening on //')
export FLIGHTLABS_BASE_URL=$API FLIGHTLABS_ACCESS_KEY=soak-key

cat >> tarmac.toml <<EOF

[flightlabs]
rate_limit = "40/10"
timeout_seconds = 3
backoff_seconds = 0.2
max_retries = 6

[jobs.poll]
steps = ["ingest realtime --airport BOG --once"]
every = "5s"
retries = 2
retry_delay = "1s"

[jobs.delta]
steps = ["ingest delta --airport BOG"]
every = "60s"
retries = 2
retry_delay = "2s"

[jobs.models]
steps = ["build"]
on_new_data = true
poll = "10s"
retries = 2
retry_delay = "2s"

[jobs.docs]
steps = ["docs generate"]
every = "120s"
retries = 2
retry_delay = "2s"
EOF
# tarmac.toml has [flightlabs] from init (commented keys only): merge the two
python3 - tarmac.toml <<'PY'
import sys, re
p = sys.argv[1]
t = open(p).read()
first = t.index("[flightlabs]")
second = t.index("[flightlabs]", first + 1)
block_end = t.index("[jobs.poll]")
extra = t[second + len("[flightlabs]"):block_end]
t = t[:second] + t[block_end:]
t = t.replace("[flightlabs]", "[flightlabs]" + extra.rstrip() + "\n", 1)
open(p, "w").write(t)
PY

echo "== soak: ${SECS} s; simulator day shape $DAY_SHAPE; work in $WORK"
# a first day, so that delta has something to continue from
"$BIN" ingest batch --airport BOG --from "$(date -u -d '3 days ago' +%F)" --to "$(date -u -d '2 days ago' +%F)" > first.out 2>&1 \
  || { echo "the first batch failed:"; tail -5 first.out; exit 1; }
"$BIN" build > build0.out 2>&1 || true
"$BIN" docs generate > docs0.out 2>&1 || true

start_orch() {
  "$BIN" orchestrate --listen 127.0.0.1:0 >> orch.out 2>> orch.err &
  ORCH=$!
}
start_orch

# readers: a shell loop (some long statements) and the docs server, read
"$BIN" docs serve --port 0 > docs.out 2> docs.err &
PIDS+=($!)
(
  i=0
  while true; do
    i=$((i + 1))
    if [ $((i % 5)) = 0 ]; then
      sql="SELECT count(*) FROM range(20000000) a, (SELECT 1) b WHERE a.range % 7 = 3"
    else
      sql="SELECT count(*) FROM bronze.flightlabs_historical"
    fi
    s=$(date +%s.%N)
    if "$BIN" sql -c "$sql" > /dev/null 2>> sql.err; then r=ok; else r=fail; fi
    echo "$s $(date +%s.%N) $r" >> sql.times
    sleep 0.2
  done
) &
PIDS+=($!)
(
  for _ in $(seq 100); do [ -s docs.out ] && break; sleep 0.1; done
  DOCS=$(head -1 docs.out | sed 's/serving on //')
  while true; do
    code=$(python3 -c "import urllib.request,sys
try: print(urllib.request.urlopen(sys.argv[1], timeout=10).status)
except Exception as e: print('error', e)" "$DOCS/api/index" 2>/dev/null || echo error)
    echo "$code" >> docs.codes
    sleep 1
  done
) &
PIDS+=($!)

# two SIGKILLs of the orchestrator, at a third and two thirds of the time
T0=$(date +%s)
for k in 1 2; do
  sleep $((SECS / 3))
  echo "   SIGKILL orchestrator (pid $ORCH) at $(( $(date +%s) - T0 )) s"
  kill -KILL "$ORCH"; wait "$ORCH" 2>/dev/null || true
  sleep 1
  start_orch
done
sleep $((SECS - 2 * (SECS / 3)))
kill -TERM "$ORCH"; wait "$ORCH" 2>/dev/null || true
ORCH=
# let the last runs' children end (the orchestrator takes them with it)
sleep 2
for p in "${PIDS[@]:1}"; do kill "$p" 2>/dev/null || true; done
# load what landed but was not loaded (a poll cut by the stop), as every
# ingest command does at its start: a batch of days already landed fetches
# nothing and only runs that sweep
"$BIN" ingest batch --airport BOG --from "$(date -u -d '3 days ago' +%F)" --to "$(date -u -d '3 days ago' +%F)" > settle.out 2>&1 || true

echo "== checks"
"$BIN" sql --mode csv -c "SELECT landing_file, count(*) FROM bronze.flightlabs_historical GROUP BY 1" > bronze_hist.csv
"$BIN" sql --mode csv -c "SELECT landing_file, count(*) FROM bronze.flightlabs_positions GROUP BY 1" > bronze_pos.csv
"$BIN" sql --mode csv -c "SELECT landing_file, count(*) FROM bronze.quarantine GROUP BY 1" > bronze_q.csv
"$BIN" sql --mode csv -c "SELECT (SELECT count(*) FROM silver.real_time_planes), (SELECT count(*) FROM (SELECT DISTINCT hex, updated FROM bronze.flightlabs_positions)), (SELECT count(*) FROM silver.real_time_planes) - (SELECT count(*) FROM (SELECT DISTINCT hex, updated FROM silver.real_time_planes))" > silver.csv
python3 - "$WORK" "$SECS" <<'PY'
import csv, json, os, sqlite3, subprocess, sys, statistics, re
work, secs = sys.argv[1], int(sys.argv[2])
ok = True
def fail(msg):
    global ok
    ok = False
    print("FAIL:", msg)

# landing = bronze: every body's records, counted from the files themselves
def counts(name):
    d = {}
    with open(os.path.join(work, name)) as f:
        r = csv.reader(f); next(r, None)
        for row in r:
            d[row[0]] = int(row[1])
    return d
hist, pos, quar = counts("bronze_hist.csv"), counts("bronze_pos.csv"), counts("bronze_q.csv")
landing = os.path.join(work, "landing")
bodies = 0; records = 0; mismatched = []
for root, dirs, files in os.walk(landing):
    if "_rejected" in root:
        continue
    for f in files:
        if not f.endswith(".json.zst") or f.startswith("."):
            continue
        rel = os.path.relpath(os.path.join(root, f), landing)
        raw = subprocess.run(["zstdcat", os.path.join(root, f)], capture_output=True).stdout
        try:
            body = json.loads(raw)
            n = len(body.get("data") or []) if isinstance(body, dict) else None
        except Exception:
            n = None
        bodies += 1
        got = hist.get(rel, 0) + pos.get(rel, 0) + quar.get(rel, 0)
        want = n if n is not None else 1   # a body that does not parse: one quarantine row
        records += want
        if got != want:
            mismatched.append((rel, want, got))
if mismatched:
    fail(f"{len(mismatched)} landing bodies differ from bronze, e.g. {mismatched[:3]}")
silver = list(csv.reader(open(os.path.join(work, "silver.csv"))))[1]
if int(silver[0]) != int(silver[1]) or int(silver[2]) != 0:
    fail(f"silver.real_time_planes {silver[0]} rows vs {silver[1]} distinct bronze positions ({silver[2]} duplicates)")

# the run history
con = sqlite3.connect(os.path.join(work, ".tarmac", "state.sqlite"))
runs = con.execute("SELECT status, count(*) FROM runs GROUP BY 1").fetchall()
by = dict(runs)
total = sum(by.values())
lock_fail = con.execute("""SELECT count(*) FROM steps WHERE status = 'failed' AND
    (exit_code = 75 OR error LIKE '%locked by another process%')""").fetchone()[0]
lock_runs = con.execute("""SELECT count(*) FROM runs WHERE status = 'failed' AND
    (error LIKE '%lock%')""").fetchone()[0]
if lock_fail or lock_runs:
    fail(f"{lock_fail} step attempts and {lock_runs} runs failed for a lock")
interrupted = by.get("interrupted", 0)
retried = con.execute("""SELECT count(*) FROM runs i WHERE i.status = 'interrupted' AND
    EXISTS (SELECT 1 FROM runs r WHERE r.parent_run = i.id AND r.trigger = 'retry')""").fetchone()[0]
# (a SIGKILL between runs interrupts nothing, so zero interrupted runs is
# possible in a short soak; every one there is must have been retried)
if retried != interrupted:
    fail(f"{interrupted} interrupted runs, {retried} retried")
stuck = by.get("running", 0) + by.get("queued", 0)
waits = []
for (m,) in con.execute("SELECT message FROM logs WHERE message LIKE '%waited % s for the warehouse%'"):
    x = re.search(r"waited ([0-9.]+) s", m)
    if x: waits.append(float(x.group(1)))

# the plan: the simulator's own limiter refused nothing
mock_log = open(os.path.join(work, "mock.err")).read().splitlines()
refused = sum(1 for l in mock_log if "rate limited" in l)
injected = {}
for l in mock_log:
    x = re.search(r'fault="?([a-z0-9_]+)"?.*injected fault|injected fault.*fault="?([a-z0-9_]+)', l)
    if x:
        k = x.group(1) or x.group(2)
        injected[k] = injected.get(k, 0) + 1
if refused:
    fail(f"the simulator refused {refused} requests for the plan's rate limit")
# headroom: requests per 10 s window, from the ledger (attempts at their outcome time)
from datetime import datetime
starts = []
for l in open(os.path.join(landing, "_ledger", "ledger.jsonl")):
    try:
        e = json.loads(l)
    except Exception:
        continue
    t = datetime.fromisoformat(e["at"].replace("Z", "+00:00")).timestamp()
    starts += [t] * max(1, int(e.get("attempts") or 1))
starts.sort()
peak = 0; j = 0
for i, t in enumerate(starts):
    while starts[j] <= t - 10:
        j += 1
    peak = max(peak, i - j + 1)
sql = [l.split() for l in open(os.path.join(work, "sql.times"))] if os.path.exists(os.path.join(work, "sql.times")) else []
sql_fail = sum(1 for s in sql if s[2] != "ok")
docs = [l.strip() for l in open(os.path.join(work, "docs.codes"))] if os.path.exists(os.path.join(work, "docs.codes")) else []
docs_bad = sum(1 for c in docs if c != "200")

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else 0.0
print(f"duration: {secs} s; runs: {total} ({', '.join(f'{k} {v}' for k, v in sorted(by.items()))}); cut or left queued by the final stop: {stuck}")
print(f"interrupted runs: {interrupted}, retried: {retried}; runs failed for a lock: {lock_runs}")
print(f"lock waits reported by steps: {len(waits)}; p50 {pct(waits, 0.5):.2f} s, p99 {pct(waits, 0.99):.2f} s, max {max(waits) if waits else 0:.2f} s")
print(f"landing bodies: {bodies}; records in them: {records}; bronze historical {sum(hist.values())}, positions {sum(pos.values())}, quarantine {sum(quar.values())}; silver positions {silver[0]}")
print(f"API requests (ledger attempts): {len(starts)}; peak in any 10 s: {peak} of 40 (headroom {40 - peak}); refused by the plan: {refused}")
print(f"faults injected by the simulator: {sum(injected.values())} ({', '.join(f'{k} {v}' for k, v in sorted(injected.items()))})")
print(f"sql -c statements: {len(sql)} ({sql_fail} failed: readers may give up after --wait); docs serve reads: {len(docs)} ({docs_bad} not 200)")
print("PASS" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
