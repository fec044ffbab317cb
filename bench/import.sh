#!/usr/bin/env bash
# Benchmarks `tarmac ingest import` against the old pipeline's parsing, and at scale.
#
#   bench/import.sh
#
# (a) the real archive: RUNS runs of Tarmac (each in a fresh working directory with an empty
#     tarmac.toml, timed from the outside: process start-up, DuckDB open and the final
#     checkpoint included) and RUNS runs of bench/reference_import.py (csv + ast.literal_eval +
#     json.dumps, loaded with DuckDB's read_json; its time excludes Python's start-up and
#     imports), interleaved; medians and their ratio;
# (b) synthetic archives of each size in $SIZES records (bench/gen_archive.py, cached in
#     bench/out/): records/s and peak RSS (GNU time), durable (the default) and, for the first
#     size, also with --no-sync, to show what durability costs.
#
# Data: the archive's own day files, replayed (bench/gen_archive.py), not simulator output.
# Builds and installs nothing. Environment:
#   TARMAC   tarmac binary (default $HOME/.cache/tarmac-target/release/tarmac)
#   ARCHIVE  real archive folder (default shared/flightlabs-archive/BOG beside the repository)
#   PY       Python with duckdb for the reference (default bench/.venv/bin/python; bench/setup.sh)
#   RUNS     runs of (a) (default 5); SYNC_RUNS: runs of each mode in (b) for the first size (3)
#   SIZES    synthetic sizes (default "1000000 10000000"); SKIP_SYNTHETIC=1 stops after (a)
#   KEEP=1   keep the temporary working directories
#   SETTLE   seconds to wait after deleting a run's files before the next run (default 35)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
TARMAC="${TARMAC:-$HOME/.cache/tarmac-target/release/tarmac}"
SIZES="${SIZES:-1000000 10000000}"
RUNS="${RUNS:-5}"
SYNC_RUNS="${SYNC_RUNS:-3}"
if [ -z "${ARCHIVE:-}" ]; then
    ARCHIVE="$repo/../shared/flightlabs-archive/BOG"
fi
py="${PY:-$here/.venv/bin/python}"
TIME="${TIME:-/usr/bin/time}"

die() { echo "import.sh: $*" >&2; exit 1; }

[ -x "$TARMAC" ] || die "tarmac binary not found at $TARMAC
  build it first (cargo build --release -p tarmac) or point TARMAC at one"
[ -d "$ARCHIVE" ] || die "archive folder not found: $ARCHIVE (set ARCHIVE=...)"
ARCHIVE="$(cd "$ARCHIVE" && pwd)"
[ -x "$py" ] || die "no Python at $py: run bench/setup.sh first, or set PY"
[ -x "$TIME" ] || die "GNU time not found at $TIME (set TIME=...)"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/tarmac-bench.XXXXXX")"
cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $scratch" >&2; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Runs tarmac ingest import in a fresh directory under GNU time; prints "wall_s rss_kib rows".
timed_import() {
    local name="$1"; shift
    local d="$scratch/$name"
    rm -rf "$d"; mkdir -p "$d"; : >"$d/tarmac.toml"
    (cd "$d" && "$TIME" -f '%e %M' -o "$d/time.txt" "$TARMAC" ingest import "$@") >"$d/log.txt" 2>&1 || {
        cat "$d/log.txt" >&2; die "tarmac ingest import failed in $d (output above)"
    }
    local rows
    rows="$(grep -o '[0-9]* records into bronze' "$d/log.txt" | head -1 | cut -d' ' -f1)"
    echo "$(cat "$d/time.txt") ${rows:-?}"
}

# Deletes the finished runs' directories and waits for the deletions to
# settle. Creating thousands of files right after deleting thousands costs
# ext4 a scan of its recently deleted inodes at each new file (perf showed
# `recently_deleted` and `find_inode_bit` at ~15% of an import run that
# way); no user imports right after deleting a landing zone, so runs do not
# pay for the previous run's cleanup.
settle() {
    [ "${KEEP:-0}" = 1 ] && return
    find "$scratch" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
    sync; sleep "${SETTLE:-35}"
}

echo "tarmac:    $TARMAC"
echo "archive:   $ARCHIVE ($(find "$ARCHIVE" -maxdepth 1 -name '*.csv' | wc -l) files)"
echo

echo "== (a) the real archive: $RUNS runs each, interleaved"
: >"$scratch/t.txt"; : >"$scratch/r.txt"; : >"$scratch/p.txt"
for i in $(seq "$RUNS"); do
    read -r wall rss rows < <(timed_import "real-$i" "$ARCHIVE")
    [ "$i" -lt "$RUNS" ] || settle
    echo "$wall" >>"$scratch/t.txt"
    ref="$("$py" "$here/reference_import.py" "$ARCHIVE")"
    echo "$ref" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])' >>"$scratch/r.txt"
    echo "$ref" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["parse_seconds"])' >>"$scratch/p.txt"
    echo "   run $i: tarmac ${wall} s (peak RSS $((rss / 1024)) MiB, $rows records), reference $ref"
done
t="$(median <"$scratch/t.txt")"; r="$(median <"$scratch/r.txt")"; p="$(median <"$scratch/p.txt")"
awk -v t="$t" -v r="$r" -v p="$p" 'BEGIN {
    printf "real archive (medians): tarmac %.3f s, reference %.3f s (parsing alone %.3f s): %.1fx (%.1fx the parsing alone)\n",
        t, r, p, r / t, p / t
}'
echo

[ "${SKIP_SYNTHETIC:-0}" = 1 ] && exit 0

first=1
for n in $SIZES; do
    synthetic="$here/out/archive-$n"
    if [ ! -f "$synthetic.json" ]; then
        echo "== generating a synthetic archive of $n records in $synthetic (cached)"
        rm -rf "$synthetic"; mkdir -p "$here/out"
        "$py" "$here/gen_archive.py" --records "$n" --out "$synthetic" --source "$ARCHIVE" >"$scratch/gen.json"
        mv "$scratch/gen.json" "$synthetic.json"
    fi
    echo "== (b) $n synthetic records ($(du -sh "$synthetic" | cut -f1)), archive replay"
    modes="durable"
    runs=1
    if [ "$first" = 1 ]; then modes="durable no-sync"; runs="$SYNC_RUNS"; fi
    for mode in $modes; do
        flag=(); [ "$mode" = no-sync ] && flag=(--no-sync)
        : >"$scratch/w.txt"; : >"$scratch/m.txt"
        for i in $(seq "$runs"); do
            read -r wall rss rows < <(timed_import "syn-$n-$mode-$i" "${flag[@]}" "$synthetic")
            settle
            echo "$wall" >>"$scratch/w.txt"; echo "$rss" >>"$scratch/m.txt"
            awk -v n="$n" -v w="$wall" -v m="$rss" -v rows="$rows" -v mode="$mode" 'BEGIN {
                printf "   %s: %.2f s = %.0f records/s, peak RSS %.1f MiB, %s records into bronze\n", mode, w, n / w, m / 1024, rows }'
        done
        w="$(median <"$scratch/w.txt")"; m="$(sort -g "$scratch/m.txt" | tail -1)"
        echo "$mode $w" >>"$scratch/modes-$n.txt"
        awk -v n="$n" -v w="$w" -v m="$m" -v mode="$mode" -v k="$runs" 'BEGIN {
            printf "%d records, %s (median of %d): %.2f s = %.0f records/s, peak RSS %.1f MiB (max)\n", n, mode, k, w, n / w, m / 1024 }'
    done
    if [ "$first" = 1 ]; then
        awk '{ t[$1] = $2 } END { printf "durability costs %.1f%% (durable %.2f s, no-sync %.2f s)\n", (t["durable"] / t["no-sync"] - 1) * 100, t["durable"], t["no-sync"] }' "$scratch/modes-$n.txt"
    fi
    first=0
    echo
done
