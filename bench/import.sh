#!/usr/bin/env bash
# Benchmarks `tarmac ingest import` against the old Python pipeline.
#
#   bench/import.sh
#
# (a) times Tarmac importing the real archive in a fresh temporary working directory (an
#     empty tarmac.toml: landing ./landing, warehouse ./tarmac.duckdb);
# (b) times bench/reference_import.py (pandas + ast.literal_eval + duckdb) on the same files,
#     and prints both times and the ratio;
# (c) generates a synthetic archive of $RECORDS records (cached in bench/out/) and times
#     Tarmac importing it with /usr/bin/time -v: records/s and peak RSS.
#
# Builds and installs nothing. Environment:
#   TARMAC   tarmac binary (default $HOME/.cache/tarmac-target/release/tarmac)
#   ARCHIVE  real archive folder (default shared/flightlabs-archive/BOG beside the repository)
#   RECORDS  size of the synthetic archive (default 1000000)
#   SKIP_SYNTHETIC=1  stop after (b);  KEEP=1  keep the temporary working directories
#   TIME     GNU time (default /usr/bin/time; if missing, a Python resource-module wrapper)
# Needs bench/.venv (run bench/setup.sh once) for the reference.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
TARMAC="${TARMAC:-$HOME/.cache/tarmac-target/release/tarmac}"
RECORDS="${RECORDS:-1000000}"
if [ -z "${ARCHIVE:-}" ]; then
    ARCHIVE="$repo/../shared/flightlabs-archive/BOG"
fi
py="$here/.venv/bin/python"
TIME="${TIME:-/usr/bin/time}"

die() { echo "import.sh: $*" >&2; exit 1; }

if [ ! -x "$TARMAC" ]; then
    die "tarmac binary not found (or not executable) at $TARMAC
  build it first, e.g.: CARGO_TARGET_DIR=\$HOME/.cache/tarmac-target cargo build --release -p tarmac
  or point TARMAC at one: TARMAC=/path/to/tarmac bench/import.sh"
fi
[ -d "$ARCHIVE" ] || die "archive folder not found: $ARCHIVE (set ARCHIVE=...)"
ARCHIVE="$(cd "$ARCHIVE" && pwd)"
[ -x "$py" ] || die "no Python environment at $here/.venv: run bench/setup.sh first"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/tarmac-bench.XXXXXX")"
cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then
        echo "kept working directories under $scratch" >&2
    else
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# A fresh working directory with an empty tarmac.toml; prints its path.
fresh_dir() {
    local d="$scratch/$1"
    mkdir -p "$d"
    : >"$d/tarmac.toml"
    echo "$d"
}

# Rows in Tarmac's bronze table, via the reference venv's duckdb (best effort).
count_rows() {
    "$py" - "$1/tarmac.duckdb" <<'EOF' 2>/dev/null || echo "?"
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("SELECT count(*) FROM bronze.flightlabs_historical").fetchone()[0])
EOF
}

echo "tarmac:    $TARMAC"
echo "archive:   $ARCHIVE ($(find "$ARCHIVE" -maxdepth 1 -name '*.csv' | wc -l) files)"
echo

# (a) Tarmac on the real archive.
work="$(fresh_dir real)"
echo "== (a) tarmac ingest import on the real archive"
t0="$(now)"
(cd "$work" && "$TARMAC" ingest import "$ARCHIVE") >"$scratch/tarmac-real.log" 2>&1 || {
    cat "$scratch/tarmac-real.log" >&2
    die "tarmac ingest import failed (output above)"
}
t1="$(now)"
tarmac_s="$(elapsed "$t0" "$t1")"
sed 's/^/   | /' "$scratch/tarmac-real.log" | tail -n 20
echo "   tarmac: ${tarmac_s} s, $(count_rows "$work") rows in bronze.flightlabs_historical"
echo

# (b) The reference on the same files.
echo "== (b) reference (pandas + ast.literal_eval + duckdb) on the same files"
t0="$(now)"
ref_json="$("$py" "$here/reference_import.py" --db "$scratch/reference.duckdb" "$ARCHIVE")"
t1="$(now)"
ref_s="$(elapsed "$t0" "$t1")"
echo "   reference: ${ref_s} s wall (its own count: $ref_json)"
echo
awk -v t="$tarmac_s" -v r="$ref_s" 'BEGIN {
    printf "real archive: tarmac %.3f s, reference %.3f s, reference/tarmac = %.1fx\n", t, r, (t > 0 ? r / t : 0)
}'
echo

[ "${SKIP_SYNTHETIC:-0}" = 1 ] && exit 0

# (c) Tarmac on a large synthetic archive.
# Cached: the folder holds only the day files; gen_archive's summary beside it marks it complete.
synthetic="$here/out/archive-$RECORDS"
if [ ! -f "$synthetic.json" ]; then
    echo "== generating a synthetic archive of $RECORDS records in $synthetic (cached)"
    rm -rf "$synthetic"
    mkdir -p "$here/out"
    "$py" "$here/gen_archive.py" --records "$RECORDS" --out "$synthetic" --source "$ARCHIVE" | tee "$scratch/gen.json"
    mv "$scratch/gen.json" "$synthetic.json"
fi
echo "== (c) tarmac ingest import on $RECORDS synthetic records ($(du -sh "$synthetic" | cut -f1))"
work="$(fresh_dir synthetic)"
if [ -x "$TIME" ]; then
    (cd "$work" && "$TIME" -v -o "$scratch/time.txt" "$TARMAC" ingest import "$synthetic") \
        >"$scratch/tarmac-synthetic.log" 2>&1 || {
        cat "$scratch/tarmac-synthetic.log" >&2
        die "tarmac ingest import of the synthetic archive failed (output above)"
    }
    wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$scratch/time.txt")"
    rss_kb="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$scratch/time.txt")"
    cpu="$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { print u + s }' "$scratch/time.txt")"
else
    # No /usr/bin/time: the same numbers from Python's resource module.
    read -r wall rss_kb cpu < <(cd "$work" && "$py" - "$TARMAC" ingest import "$synthetic" \
        2>"$scratch/tarmac-synthetic.log" <<'EOF'
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=sys.stderr).returncode
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
if rc:
    sys.exit(rc)
print(f"{wall:.3f} {ru.ru_maxrss} {ru.ru_utime + ru.ru_stime:.3f}")
EOF
    ) || {
        cat "$scratch/tarmac-synthetic.log" >&2
        die "tarmac ingest import of the synthetic archive failed (output above)"
    }
fi
sed 's/^/   | /' "$scratch/tarmac-synthetic.log" | tail -n 20
rows="$(count_rows "$work")"
awk -v n="$RECORDS" -v w="$wall" -v m="$rss_kb" -v c="$cpu" -v rows="$rows" 'BEGIN {
    printf "synthetic: %d records in %.2f s = %.0f records/s (CPU %.2f s), peak RSS %.1f MiB, %s rows in bronze\n",
        n, w, (w > 0 ? n / w : 0), c, m / 1024, rows
}'
