#!/usr/bin/env bash
# Batch ingestion throughput against the simulator's rate limit.
#
# Issue target: 365 days with --rate-limit 40/10 reach >= 95% of the allowed
# request rate, and with 10% injected faults every day still lands.
#
#   cargo build --release && bash bench/batch.sh            # 365 days (~6 min per run)
#   DAYS=60 bash bench/batch.sh                             # quicker
#   DAY_SHAPE=archive bash bench/batch.sh                   # the archive's afternoon-only days
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
TARMAC="${TARMAC:-${CARGO_TARGET_DIR:-$HOME/.cache/tarmac-target}/release/tarmac}"
DAYS="${DAYS:-365}"
RATE="${RATE:-40/10}"
FAULTS="${FAULTS:-429=0.03,500=0.03,truncate=0.02,reset=0.02,malformed_record=0.01}"
# The simulator's day shape: realistic (BOG's 24 h curve, ~1.7x the
# archive's records) or archive (the shared archive's afternoons).
DAY_SHAPE="${DAY_SHAPE:-realistic}"
[ -x "$TARMAC" ] || { echo "no tarmac binary at $TARMAC: run cargo build --release (or set TARMAC)" >&2; exit 1; }

from=2023-01-01
to=$(date -u -d "$from + $((DAYS - 1)) days" +%F)
allowed=$(python3 -c "n,s='$RATE'.split('/'); print(float(n)/float(s))")

echo "batch: BOG, $DAYS days from $from, rate limit $RATE, simulator day shape $DAY_SHAPE"

run() { # $1 = label, $2 = faults
  local work; work=$(mktemp -d)
  local out="$work/api.out"
  "$TARMAC" mock-api --addr 127.0.0.1:0 --seed 1 --day-shape "$DAY_SHAPE" --rate-limit "$RATE" --faults "$2" > "$out" 2>/dev/null &
  local api=$!
  for _ in $(seq 50); do grep -q listening "$out" 2>/dev/null && break; sleep 0.1; done
  local url; url=$(sed -n 's/^listening on //p' "$out")
  printf '[flightlabs]\nrate_limit = "%s"\nconcurrency = 8\nbackoff_seconds = 0.5\nmax_retries = 10\n' "$RATE" > "$work/tarmac.toml"
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$work" && FLIGHTLABS_BASE_URL="$url" FLIGHTLABS_ACCESS_KEY=bench "$TARMAC" ingest batch --airport BOG --from "$from" --to "$to" > "$work/summary.txt")
  t1=$(date +%s.%N)
  kill "$api" 2>/dev/null || true
  local summary; summary=$(cat "$work/summary.txt")
  local requests; requests=$(sed -n 's/.*; \([0-9]*\) requests.*/\1/p' "$work/summary.txt")
  local landed; landed=$(ls "$work/landing/flightlabs/historical/code=BOG/_days" | wc -l)
  python3 - "$1" "$requests" "$t0" "$t1" "$allowed" "$landed" "$DAYS" <<'PY'
import sys
label, req, t0, t1, allowed, landed, days = sys.argv[1:]
secs = float(t1) - float(t0)
rate = int(req) / secs
print(f"{label}: {req} requests in {secs:.1f} s = {rate:.2f} req/s of {float(allowed):.2f} allowed "
      f"({100 * rate / float(allowed):.1f}%); days landed {landed}/{days}")
PY
  echo "  $summary"
  rm -rf "$work"
}

run "no faults" ""
run "faults $FAULTS" "$FAULTS"
