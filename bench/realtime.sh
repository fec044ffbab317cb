#!/usr/bin/env bash
# Poll to queryable: how long after a /flights answer arrives its positions
# are committed in bronze.flightlabs_positions and silver.real_time_planes
# (from the commit on, every reader sees them).
#
#   bench/realtime.sh
#
# Starts `tarmac mock-api` (simulated clock at an evening bank, a minute per
# second, so every poll brings new positions) and, in a fresh directory:
#   (a) RUNS x `tarmac ingest realtime --once --airport $AIRPORTS` (a process
#       per poll: opens the warehouse, polls, loads, exits);
#   (b) the same with silver pre-filled with PREFILL older positions, to show
#       the cost per poll does not grow with the table;
#   (c) a loop, `--interval 2s`, for LOOP_SECONDS, stopped with SIGTERM;
# and prints min / median / p95 / max of the "queryable N s after the
# response" figure each poll prints (response received -> commit returned),
# checks that silver holds no duplicate (hex, updated), and that the loop
# stopped with exit code 0. Environment:
#   TARMAC    tarmac binary (default $HOME/.cache/tarmac-target/release/tarmac)
#   AIRPORTS  (default BOG,MDE)   RUNS (default 20)   PREFILL (default 2000000)
#   LOOP_SECONDS (default 20)
#   DAY_SHAPE the simulator's days: realistic (default; BOG's 24 h curve) or
#             archive (the shared archive's afternoon-only days)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TARMAC="${TARMAC:-$HOME/.cache/tarmac-target/release/tarmac}"
AIRPORTS="${AIRPORTS:-BOG,MDE}"
RUNS="${RUNS:-20}"
PREFILL="${PREFILL:-2000000}"
LOOP_SECONDS="${LOOP_SECONDS:-20}"
DAY_SHAPE="${DAY_SHAPE:-realistic}"
die() { echo "realtime.sh: $*" >&2; exit 1; }

[ -x "$TARMAC" ] || die "tarmac binary not found at $TARMAC
  build it first: CARGO_TARGET_DIR=\$HOME/.cache/tarmac-target cargo build --release -p tarmac"

work="$(mktemp -d)"
api_pid=""
cleanup() {
    [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$TARMAC" mock-api --addr 127.0.0.1:0 --clock 2024-08-13T01:00:00Z --clock-rate 60 --day-shape "$DAY_SHAPE" \
    > "$work/api.out" 2>/dev/null &
api_pid=$!
for _ in $(seq 50); do
    [ -s "$work/api.out" ] && break
    sleep 0.1
done
url="$(head -1 "$work/api.out" | sed 's/^listening on //')"
[ -n "$url" ] || die "mock-api did not start"
export FLIGHTLABS_BASE_URL="$url" FLIGHTLABS_ACCESS_KEY="bench"
# The simulator has no plan to protect; the default (10 requests per 10 s)
# would make a 2 s loop over two airports wait for the rate limit.
printf '[flightlabs]\nrate_limit = "1000/1"\n' > "$work/tarmac.toml"

# min / median / p95 / max of the figures on stdin, in ms
stats() {
    sort -n | awk '{ v[NR] = $1 * 1000 }
        END {
            if (NR == 0) { print "no figures"; exit }
            p95 = int(NR * 0.95 + 0.5); if (p95 < 1) p95 = 1; if (p95 > NR) p95 = NR
            printf "n=%d  min %.0f ms  median %.0f ms  p95 %.0f ms  max %.0f ms\n",
                NR, v[1], v[int((NR + 1) / 2)], v[p95], v[NR]
        }'
}
figures() { grep -o 'queryable [0-9.]* s' | awk '{ print $2 }'; }
sql() { (cd "$1" && "$TARMAC" sql -c "$2"); }
newdir() { mkdir -p "$1" && cp "$work/tarmac.toml" "$1/tarmac.toml"; }

once_runs() {
    local dir="$1"
    for _ in $(seq "$RUNS"); do
        (cd "$dir" && "$TARMAC" ingest realtime --once --airport "$AIRPORTS") >> "$dir/polls.out"
    done
    figures < "$dir/polls.out" | stats
    sql "$dir" "SELECT count(*) AS positions, count(*) - count(DISTINCT (hex, updated)) AS duplicates
                FROM silver.real_time_planes" | tail -1 | sed 's/^/  silver positions,duplicates: /'
}

echo "tarmac: $TARMAC; airports $AIRPORTS; mock-api at $url, a simulated minute per second, day shape $DAY_SHAPE"
echo
echo "(a) $RUNS polls, one process each, fresh warehouse:"
newdir "$work/a"
once_runs "$work/a"

echo
echo "(b) $RUNS polls with $PREFILL older positions in silver:"
newdir "$work/b"
(cd "$work/b" && "$TARMAC" ingest realtime --once --airport "$AIRPORTS" > /dev/null)
sql "$work/b" "INSERT INTO silver.real_time_planes
    SELECT printf('%06X', i % 50000), NULL, NULL, 4.7, -74.1, 10000, 90, 800, 0, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           1600000000 + i, 'en-route', 'adsb', to_timestamp(1600000000 + i), NULL, 'prefill', 0
    FROM range($PREFILL) t(i) ORDER BY 1600000000 + i" > /dev/null
once_runs "$work/b"

echo
echo "(c) a loop, --interval 2s, for $LOOP_SECONDS s, then SIGTERM:"
newdir "$work/c"
(cd "$work/c" && exec "$TARMAC" ingest realtime --airport "$AIRPORTS" --interval 2s) \
    > "$work/c/polls.out" 2> "$work/c/err.out" &
loop_pid=$!
sleep "$LOOP_SECONDS"
kill -TERM "$loop_pid"
code=0
wait "$loop_pid" || code=$?
figures < "$work/c/polls.out" | stats
echo "  polls: $(grep -c 'responses landed' "$work/c/polls.out"); exit code after SIGTERM: $code"
sql "$work/c" "SELECT count(*) AS positions, count(*) - count(DISTINCT (hex, updated)) AS duplicates
               FROM silver.real_time_planes" | tail -1 | sed 's/^/  silver positions,duplicates: /'
