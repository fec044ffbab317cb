#!/usr/bin/env bash
# Issue 15's lakehouse figures: `tarmac lake publish` of a year x 3 airports
# (`tarmac up --days 365`, simulator, realistic days) into a fresh folder
# lake with a SQLite catalog (target < 10 s), and the republish after a
# one-day delta (target < 2 s), plus a republish with nothing changed.
#
#   bash bench/lake.sh               # RUNS=5; prints each run and the medians
#
# The warehouse is built once (W0); a copy of it takes the delta: one more
# day of the three airports, ingested and built (W1). Each run publishes W0
# into an empty lake (full), again (unchanged), then W1 into the same lake
# (the delta). Times are wall clock from outside the process.
# Environment: TARMAC (default $HOME/.cache/tarmac-target/release/tarmac),
# AIRPORTS (BOG,MDE,CLO), DAYS (365), RUNS (5), DAY_SHAPE (realistic).
set -euo pipefail
TARMAC="${TARMAC:-$HOME/.cache/tarmac-target/release/tarmac}"
AIRPORTS="${AIRPORTS:-BOG,MDE,CLO}"
DAYS="${DAYS:-365}"
RUNS="${RUNS:-5}"
DAY_SHAPE="${DAY_SHAPE:-realistic}"
[ -x "$TARMAC" ] || { echo "lake.sh: no tarmac binary at $TARMAC (cargo build --release -p tarmac, or set TARMAC)" >&2; exit 1; }
scratch="$(mktemp -d "${TMPDIR:-/tmp}/tarmac-lake.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now() { date +%s.%N; }

echo "== lake publish: tarmac up --airport $AIRPORTS --days $DAYS (simulator, $DAY_SHAPE days), $RUNS runs, $TARMAC"
w0="$scratch/w0"; mkdir -p "$w0"
(cd "$w0" && "$TARMAC" init . >/dev/null && "$TARMAC" up --airport "$AIRPORTS" --days "$DAYS" --day-shape "$DAY_SHAPE" --yes >up.out 2>up.err) \
  || { tail -20 "$w0/up.err" >&2; exit 1; }
movements=$(cd "$w0" && "$TARMAC" sql -c "SELECT count(*) FROM silver.flights" | grep -oE '[0-9]+' | tail -1)
w1="$scratch/w1"; cp -a "$w0" "$w1"
day=$(date -u -d "$((DAYS + 1)) days ago" +%F)
(cd "$w1" && "$TARMAC" ingest batch --airport "$AIRPORTS" --from "$day" --to "$day" --simulator --day-shape "$DAY_SHAPE" --yes >/dev/null 2>&1 \
  && "$TARMAC" build >/dev/null 2>&1) || { echo "lake.sh: the delta failed" >&2; exit 1; }
echo "   warehouse: $movements movements in silver.flights; delta day $day"

full=(); same=(); delta=()
for i in $(seq "$RUNS"); do
  lake="$scratch/lake$i"
  t0=$(now); (cd "$w0" && "$TARMAC" lake publish --lake "$lake" >"$scratch/full$i.out" 2>&1) || { cat "$scratch/full$i.out" >&2; exit 1; }
  t1=$(now); (cd "$w0" && "$TARMAC" lake publish --lake "$lake" >"$scratch/same$i.out" 2>&1) || { cat "$scratch/same$i.out" >&2; exit 1; }
  t2=$(now); (cd "$w1" && "$TARMAC" lake publish --lake "$lake" >"$scratch/delta$i.out" 2>&1) || { cat "$scratch/delta$i.out" >&2; exit 1; }
  t3=$(now)
  f=$(python3 -c "print(f'{$t1 - $t0:.3f}')"); s=$(python3 -c "print(f'{$t2 - $t1:.3f}')"); d=$(python3 -c "print(f'{$t3 - $t2:.3f}')")
  echo "   run $i: full ${f} s, unchanged ${s} s, one-day delta ${d} s ($(grep -c ' updated ' "$scratch/delta$i.out") tables updated; silver.flights: $(grep '^silver.flights ' "$scratch/delta$i.out" | sed 's/  */ /g'))"
  full+=("$f"); same+=("$s"); delta+=("$d")
  rm -rf "$lake"
done
printf '== medians: full publish %s s (target < 10), unchanged %s s, one-day delta %s s (target < 2)\n' \
  "$(printf '%s\n' "${full[@]}" | median)" "$(printf '%s\n' "${same[@]}" | median)" "$(printf '%s\n' "${delta[@]}" | median)"
echo "   last full publish:"; sed 's/^/     /' "$scratch/full$RUNS.out"
