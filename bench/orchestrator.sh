#!/usr/bin/env bash
# Orchestrator benchmarks (issue 9):
#  1. scheduler: 1,000 jobs on per-minute schedules; tick lag (queued_at -
#     scheduled_for, from the run history) and CPU use of `tarmac orchestrate`
#     over the whole run and in the idle seconds between ticks.
#  2. UI: page times with 100,000 runs (200,000 step attempts, 500,000 log
#     lines) in the history.
# Usage: bash bench/orchestrator.sh [MINUTES]   (default 2 scheduler minutes)
# TARMAC_BIN picks the binary (default: the debug build of this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TARMAC_BIN:-${CARGO_TARGET_DIR:-target}/debug/tarmac}
MINUTES=${1:-2}
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
HZ=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
start() {
  "$BIN" --config "$WORK/tarmac.toml" orchestrate --listen 127.0.0.1:0 "$@" > "$WORK/out" 2> "$WORK/err" &
  PID=$!
  for _ in $(seq 600); do [ -s "$WORK/out" ] && break; sleep 0.1; done
  URL=$(head -1 "$WORK/out" | sed 's/serving on //')
  if [ -z "$URL" ]; then echo "orchestrate did not start:"; cat "$WORK/err"; exit 1; fi
}

if [ -z "${SKIP_SCHEDULER:-}" ]; then
echo "== scheduler: 1000 jobs, cron '* * * * *', --dry-run, ${MINUTES} min"
python3 - "$WORK/tarmac.toml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000):
        f.write(f'[jobs.j{i:04d}]\nsteps = ["ingest status"]\nschedule = "* * * * *"\n\n')
PY
start --dry-run
T0=$(date +%s.%N); C0=$(cpu_ticks $PID)
# idle window: from 5 s after a minute starts to 5 s before the next
now=$(date +%s); sleep $(( 60 - now % 60 + 5 ))
I0=$(date +%s.%N); IC0=$(cpu_ticks $PID); sleep 50; I1=$(date +%s.%N); IC1=$(cpu_ticks $PID)
now=$(date +%s); end=$(( now - now % 60 + 60 * MINUTES + 5 ))
sleep $(( end > now ? end - now : 5 ))
T1=$(date +%s.%N); C1=$(cpu_ticks $PID)
kill $PID; wait $PID 2>/dev/null || true
python3 - "$WORK/.tarmac/state.sqlite" "$T0" "$T1" "$C0" "$C1" "$I0" "$I1" "$IC0" "$IC1" "$HZ" <<'PY'
import sqlite3, sys
db, t0, t1, c0, c1, i0, i1, ic0, ic1, hz = sys.argv[1:]
con = sqlite3.connect(db)
lags = sorted(r[0] for r in con.execute("SELECT queued_at - scheduled_for FROM runs WHERE trigger = 'schedule'"))
ticks = con.execute("SELECT count(DISTINCT scheduled_for) FROM runs WHERE trigger = 'schedule'").fetchone()[0]
n = len(lags)
print(f"runs queued: {n} in {ticks} ticks")
print(f"tick lag ms: median {lags[n//2]}, p99 {lags[int(n*0.99)]}, max {lags[-1]}")
wall = float(t1) - float(t0); cpu = (int(c1) - int(c0)) / int(hz)
print(f"CPU overall: {cpu:.2f} s in {wall:.0f} s = {100*cpu/wall:.2f}% of one core")
iw = float(i1) - float(i0); ic = (int(ic1) - int(ic0)) / int(hz)
print(f"CPU idle (between ticks): {ic:.2f} s in {iw:.0f} s = {100*ic/iw:.2f}% of one core")
PY

fi

echo "== UI: 100,000 runs in the history"
rm -rf "$WORK/.tarmac"
python3 - "$WORK/tarmac.toml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(20):
        f.write(f'[jobs.j{i:02d}]\nsteps = ["ingest status", "ingest status"]\n\n')
PY
start; kill $PID; wait $PID 2>/dev/null || true   # creates the schema
python3 - "$WORK/.tarmac/state.sqlite" <<'PY'
import sqlite3, sys, random, time
con = sqlite3.connect(sys.argv[1])
random.seed(1)
now = int(time.time() * 1000)
runs, steps, logs = [], [], []
for i in range(1, 100001):
    job = f"j{i % 20:02d}"
    st = "failed" if random.random() < 0.1 else "success"
    q = now - (100001 - i) * 60000
    day = time.strftime("%Y-%m-%d", time.gmtime(q / 1000))
    runs.append((i, job, st, "backfill" if i % 3 == 0 else "schedule", day, q, q, q + 100, q + 5000,
                 1 if st == "failed" else None, "boom" if st == "failed" else None, "{}"))
    for s in range(2):
        steps.append((i, s, 1, "ingest status", "[]", "success", q + 100 + s * 2000, q + 2000 + s * 2000, 0, None))
    for k in range(5):
        logs.append((i, k % 2, 1, q + 200 + k, "stdout", "info", f"line {k} of run {i}"))
con.executemany("INSERT INTO runs (id, job, status, trigger, partition, scheduled_for, queued_at, started_at, finished_at, failed_step, error, config) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", runs)
con.executemany("INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?,?)", steps)
con.executemany("INSERT INTO logs (run_id, step_idx, attempt, ts, stream, level, message) VALUES (?,?,?,?,?,?,?)", logs)
con.commit()
print("seeded", con.execute("SELECT count(*) FROM runs").fetchone()[0], "runs,",
      con.execute("SELECT count(*) FROM steps").fetchone()[0], "step attempts,",
      con.execute("SELECT count(*) FROM logs").fetchone()[0], "log lines")
PY
start
for p in / "/runs" "/runs?job=j07" "/runs?status=failed" "/runs?job=j03&status=failed&before=50000" "/runs/99999" "/runs/12345" "/backfill" "/backfill?days=120" "/api/runs?limit=500"; do
  curl -s -o /dev/null "$URL$p"   # warm
  for _ in $(seq 20); do curl -s -o /dev/null -w "%{time_total}\n" "$URL$p"; done | sort -n |
    awk -v p="$p" '{a[NR]=$1} END {printf "%-45s median %6.1f ms  max %6.1f ms\n", p, a[int(NR/2)+1]*1000, a[NR]*1000}'
done
