#!/usr/bin/env bash
# Issue 16's scale figure: `tarmac up` over a year of 3 airports on the
# built-in simulator, realistic days (DAY_SHAPE to change), from an empty
# folder each run: ingest + build + tests, wall time and peak RSS (GNU time).
#
#   bash bench/up_year.sh            # RUNS=3 runs; prints each and the medians
#
# Environment: TARMAC (default $HOME/.cache/tarmac-target/release/tarmac),
# AIRPORTS (BOG,MDE,CTG), DAYS (365), RUNS (3), DAY_SHAPE (realistic).
# Targets (issue 16): under 60 s and under 1 GB of peak memory.
set -euo pipefail
TARMAC="${TARMAC:-$HOME/.cache/tarmac-target/release/tarmac}"
AIRPORTS="${AIRPORTS:-BOG,MDE,CTG}"
DAYS="${DAYS:-365}"
RUNS="${RUNS:-3}"
DAY_SHAPE="${DAY_SHAPE:-realistic}"
TIME="${TIME:-/usr/bin/time}"
[ -x "$TARMAC" ] || { echo "up_year.sh: no tarmac binary at $TARMAC (cargo build --release -p tarmac, or set TARMAC)" >&2; exit 1; }
[ -x "$TIME" ] || { echo "up_year.sh: GNU time not found at $TIME" >&2; exit 1; }
scratch="$(mktemp -d "${TMPDIR:-/tmp}/tarmac-upyear.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== tarmac up --airport $AIRPORTS --days $DAYS; simulator day shape $DAY_SHAPE; $RUNS runs"
walls=(); rss=()
for i in $(seq "$RUNS"); do
    d="$scratch/run$i"; mkdir -p "$d"
    (cd "$d" && "$TARMAC" init . >/dev/null \
        && "$TIME" -f '%e %M' -o time.txt "$TARMAC" up --airport "$AIRPORTS" --days "$DAYS" \
            --day-shape "$DAY_SHAPE" --yes >up.out 2>up.err) \
        || { tail -20 "$d/up.err" >&2; echo "up_year.sh: run $i failed" >&2; exit 1; }
    read -r wall kib <"$d/time.txt"
    summary=$(grep -E "up in" "$d/up.out" | sed 's/^warehouse [^ ]* — //')
    records=$(grep -oE '[0-9]+ records into bronze' "$d/up.err" "$d/up.out" | head -1 | grep -oE '^[^ ]*:?[0-9]+' | grep -oE '[0-9]+$' || true)
    echo "   run $i: ${wall} s, peak RSS $((kib / 1024)) MiB, ${records:-?} records ($summary)"
    walls+=("$wall"); rss+=("$kib")
    rm -rf "$d"
done
w=$(printf '%s\n' "${walls[@]}" | median)
m=$(printf '%s\n' "${rss[@]}" | median)
echo "medians: ${w} s, peak RSS $(awk -v k="$m" 'BEGIN { printf "%.0f", k / 1024 }') MiB (targets: < 60 s, < 1024 MiB)"
