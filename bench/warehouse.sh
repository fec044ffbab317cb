#!/usr/bin/env bash
# The warehouse benchmarks (issue 7 targets, 2 cores):
#   1. archive: the shared archive from import to tested gold     < 3 s
#   2. year:    a year for three airports from the simulator, no
#               rate limit (~650k records): `tarmac up`           < 60 s, peak memory
#   3. delta:   one new day ingested, then the incremental
#               rebuild of silver and gold                        < 2 s
#
#   cargo build --release -p tarmac && bash bench/warehouse.sh
#   AIRPORTS=BOG DAYS=30 bash bench/warehouse.sh year     # one part, smaller
#   DAY_SHAPE=archive bash bench/warehouse.sh year         # the archive's afternoon-only days
#
# Each part runs in a fresh temporary folder made by `tarmac init`. Peak
# memory is the maximum resident set size from GNU time (/usr/bin/time -v).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
TARMAC="${TARMAC:-${CARGO_TARGET_DIR:-$here/../target}/release/tarmac}"
ARCHIVE="${ARCHIVE:-$here/../../shared/flightlabs-archive/BOG}"
AIRPORTS="${AIRPORTS:-BOG,MAD,MDE}"
DAYS="${DAYS:-365}"
# The simulator's day shape for `year`: realistic (BOG's 24 h curve, ~1.7x
# the archive's records) or archive (the shared archive's afternoons).
DAY_SHAPE="${DAY_SHAPE:-realistic}"
[ -x "$TARMAC" ] || { echo "no tarmac binary at $TARMAC: cargo build --release -p tarmac (or set TARMAC)" >&2; exit 1; }
TARMAC="$(cd "$(dirname "$TARMAC")" && pwd)/$(basename "$TARMAC")"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (/usr/bin/time)" >&2; exit 1; }

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
peak() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | sort -n | tail -1 | awk '{printf "%.0f MB", $1/1024}'; }
# CPU seconds (user + system) of GNU time files: on a shared machine the wall
# time says more about the neighbours than about Tarmac.
cpu() { cat "$@" | awk -F': ' '/User time|System time/ {s += $2} END {printf "%.1f", s}'; }
count() { "$TARMAC" sql -c "$1" --mode csv | tail -1; }

part_archive() {
  local w; w=$(mktemp -d); cd "$w"
  "$TARMAC" init . > /dev/null
  local t0; t0=$(now)
  /usr/bin/time -v -o time.import "$TARMAC" ingest import "$ARCHIVE" > import.out 2>&1
  /usr/bin/time -v -o time.build "$TARMAC" build > build.out 2>&1 || { cat build.out; exit 1; }
  local t1; t1=$(now)
  echo "archive: import + build (models and tests) in $(secs "$t0" "$t1") s ($(cpu time.import time.build) CPU s), peak $(peak time.import) import / $(peak time.build) build"
  echo "  $(tail -1 import.out)"
  echo "  $(grep -E '^Done' build.out)"
  echo "  silver.flights $(count 'SELECT count(*) FROM silver.flights') movements from $(count 'SELECT sum(observations) FROM silver.flights') observations"
  cd - > /dev/null; rm -rf "$w"
}

part_year() {
  local w; w=$(mktemp -d); cd "$w"
  "$TARMAC" init . > /dev/null
  local t0; t0=$(now)
  /usr/bin/time -v -o time.up "$TARMAC" up --airport "$AIRPORTS" --days "$DAYS" --day-shape "$DAY_SHAPE" > up.out 2>&1 || { tail -20 up.out; exit 1; }
  local t1; t1=$(now)
  echo "year: tarmac up --airport $AIRPORTS --days $DAYS --day-shape $DAY_SHAPE in $(secs "$t0" "$t1") s ($(cpu time.up) CPU s), peak $(peak time.up)"
  grep -E '^(warehouse|  (bronze|silver|models))' up.out | sed 's/^/  /'
  # part 3 on this warehouse: one more day, then the incremental rebuild
  local next; next=$(date -u +%F)
  "$TARMAC" ingest batch --simulator --day-shape "$DAY_SHAPE" --airport "$AIRPORTS" --from "$next" --to "$next" > delta.out 2>&1
  echo "delta: $(tail -1 delta.out)"
  local t2; t2=$(now)
  /usr/bin/time -v -o time.delta "$TARMAC" run > run.out 2>&1 || { cat run.out; exit 1; }
  local t3; t3=$(now)
  echo "delta: incremental rebuild of silver and gold (tarmac run) in $(secs "$t2" "$t3") s ($(cpu time.delta) CPU s), peak $(peak time.delta)"
  grep -E 'flight_observations|silver.flights|fct_flight' run.out | sed 's/^/  /'
  /usr/bin/time -v -o time.test "$TARMAC" test > test.out 2>&1 || { cat test.out; exit 1; }
  echo "delta: then tarmac test in $(secs "$t3" "$(now)") s ($(cpu time.test) CPU s): $(grep -E '^Done' test.out)"
  cd - > /dev/null; rm -rf "$w"
}

case "${1:-all}" in
  archive) part_archive ;;
  year) part_year ;;
  all) part_archive; part_year ;;
  *) echo "usage: $0 [archive|year|all]" >&2; exit 2 ;;
esac
