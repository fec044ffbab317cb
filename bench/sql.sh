#!/usr/bin/env bash
# Benchmarks `tarmac sql` against the DuckDB CLI.
#
#   bench/sql.sh
#
# (a) start to first output: `tarmac sql W -c "select 1"` vs `duckdb W -c "select 1"`;
# (b) start to prompt in a pseudo-terminal (what a person waits for), both shells;
# (c) a 1,000,000-row result written as CSV to a file: time and peak RSS, both shells;
# (d) completion with 10,000 columns in the catalog (the shell crate's timing test).
# W is the warehouse of the shared archive (built once with `tarmac ingest import`,
# cached in bench/out/sql-warehouse), or $WAREHOUSE.
#
# Setup step (once): installs the DuckDB CLI (PyPI package duckdb-cli) into bench/.venv;
# without it, only Tarmac's figures are printed. Environment:
#   TARMAC   tarmac binary (default $HOME/.cache/tarmac-target/release/tarmac)
#   ROWS     rows of (c) (default 1000000);  RUNS  repetitions of (a) and (b) (default 20)
#   NO_SETUP=1  do not install the DuckDB CLI
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
TARMAC="${TARMAC:-$HOME/.cache/tarmac-target/release/tarmac}"
ROWS="${ROWS:-1000000}"
RUNS="${RUNS:-20}"
py="$here/.venv/bin/python"
die() { echo "sql.sh: $*" >&2; exit 1; }

[ -x "$TARMAC" ] || die "tarmac binary not found at $TARMAC
  build it first: CARGO_TARGET_DIR=\$HOME/.cache/tarmac-target cargo build --release -p tarmac"

# --- setup: the DuckDB CLI from PyPI, into bench/.venv
if [ "${NO_SETUP:-0}" != 1 ]; then
    if [ ! -x "$py" ]; then
        python3 -m venv "$here/.venv"
    fi
    if [ ! -x "$here/.venv/bin/duckdb" ]; then
        "$py" -m pip install --quiet duckdb-cli || echo "sql.sh: could not install duckdb-cli; Tarmac figures only" >&2
    fi
fi
DUCKDB="${DUCKDB:-$here/.venv/bin/duckdb}"
[ -x "$DUCKDB" ] || DUCKDB="$(command -v duckdb || true)"

# --- the warehouse of the shared archive
if [ -z "${WAREHOUSE:-}" ]; then
    ARCHIVE="${ARCHIVE:-$repo/../shared/flightlabs-archive/BOG}"
    cache="$here/out/sql-warehouse"
    WAREHOUSE="$cache/tarmac.duckdb"
    if [ ! -f "$WAREHOUSE" ]; then
        [ -d "$ARCHIVE" ] || die "no shared archive at $ARCHIVE (set ARCHIVE= or WAREHOUSE=)"
        mkdir -p "$cache"
        : >"$cache/tarmac.toml"
        (cd "$cache" && "$TARMAC" ingest import "$ARCHIVE" >/dev/null)
    fi
fi
echo "warehouse: $WAREHOUSE ($(du -h "$WAREHOUSE" | cut -f1))"
echo "tarmac:    $TARMAC"
[ -n "$DUCKDB" ] && echo "duckdb:    $DUCKDB ($("$DUCKDB" -version 2>/dev/null | head -1))"

# The DuckDB CLI may not read a file written by a newer DuckDB: give it its own copy of
# the data when it cannot.
DUCK_W="$WAREHOUSE"
if [ -n "$DUCKDB" ] && ! "$DUCKDB" -readonly "$WAREHOUSE" -c "select 1" >/dev/null 2>&1; then
    DUCK_W="$here/out/sql-warehouse/duckdb-cli.duckdb"
    if [ ! -f "$DUCK_W" ]; then
        "$TARMAC" sql "$WAREHOUSE" --mode csv -c "select * from bronze.flightlabs_historical" >"$here/out/sql-warehouse/bronze.csv"
        "$DUCKDB" "$DUCK_W" -c "create schema bronze; create table bronze.flightlabs_historical as select * from read_csv_auto('$here/out/sql-warehouse/bronze.csv')" >/dev/null
    fi
    echo "(the DuckDB CLI cannot open this file version: it uses a copy, $DUCK_W)"
fi

ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
now() { date +%s.%N; }

# mean wall time in ms of RUNS runs of a command
mean_ms() {
    local start end
    start=$(now)
    for _ in $(seq "$RUNS"); do "$@" >/dev/null 2>&1; done
    end=$(now)
    awk -v a="$start" -v b="$end" -v n="$RUNS" 'BEGIN { printf "%.1f", (b - a) * 1000 / n }'
}

echo
echo "== (a) start to first output: -c \"select 1\" (mean of $RUNS)"
t_tarmac=$(mean_ms "$TARMAC" sql "$WAREHOUSE" -c "select 1")
echo "tarmac sql: $t_tarmac ms"
if [ -n "$DUCKDB" ]; then
    t_duck=$(mean_ms "$DUCKDB" "$DUCK_W" -c "select 1")
    echo "duckdb:     $t_duck ms   (ratio tarmac/duckdb $(awk -v a="$t_tarmac" -v b="$t_duck" 'BEGIN { printf "%.2f", a / b }'))"
fi

echo
echo "== (b) start to prompt in a pseudo-terminal (mean of $RUNS)"
# A tiny terminal: answers cursor-position queries, stops at the prompt "D ".
prompt_ms() {
    python3 - "$RUNS" "$@" <<'EOF'
import os, pty, re, select, signal, sys, time
runs, argv = int(sys.argv[1]), sys.argv[2:]
# QUERY=1: go on to the first result (type a query at the prompt, wait for its answer)
query = os.environ.get("QUERY") == "1"
ansi = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[78=>]")
total = 0.0
for _ in range(runs):
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TARMAC_SQL_HISTORY"] = "/dev/null"
        os.execv(argv[0], argv)
    buf = b""
    sent = False
    while True:
        r, _, _ = select.select([fd], [], [], 10)
        if not r:
            sys.exit("no prompt after 10 s: " + repr(buf[-200:]))
        data = os.read(fd, 65536)
        buf += data
        # answer what a terminal answers: cursor position, background colour
        # and device attributes (the DuckDB CLI asks the last two)
        for _ in range(data.count(b"\x1b[6n")):
            os.write(fd, b"\x1b[3;1R")
        if b"\x1b]11;?" in data:
            os.write(fd, b"\x1b]11;rgb:0000/0000/0000\x07")
        if b"\x1b[c" in data:
            os.write(fd, b"\x1b[?62;22c")
        text = ansi.sub(b"", buf)
        if not query and text.split(b"\n")[-1].endswith(b"D "):
            break
        if query and not sent and b"D " in text:
            sent = True
            os.write(fd, b"select 4242 * 2 as x;\r")
        if query and b"8484" in text:
            break
    total += time.perf_counter() - start
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    os.close(fd)
print(f"{total / runs * 1000:.1f}")
EOF
}
p_tarmac=$(prompt_ms "$TARMAC" sql "$WAREHOUSE")
echo "tarmac sql: $p_tarmac ms"
if [ -n "$DUCKDB" ]; then
    p_duck=$(prompt_ms "$DUCKDB" "$DUCK_W")
    echo "duckdb:     $p_duck ms   (ratio $(awk -v a="$p_tarmac" -v b="$p_duck" 'BEGIN { printf "%.2f", a / b }'))"
fi

echo
echo "== (b2) start to the first result, typed at the prompt (mean of $RUNS)"
q_tarmac=$(QUERY=1 prompt_ms "$TARMAC" sql "$WAREHOUSE")
echo "tarmac sql: $q_tarmac ms"
if [ -n "$DUCKDB" ]; then
    q_duck=$(QUERY=1 prompt_ms "$DUCKDB" "$DUCK_W")
    echo "duckdb:     $q_duck ms   (ratio $(awk -v a="$q_tarmac" -v b="$q_duck" 'BEGIN { printf "%.2f", a / b }'))"
fi

echo
echo "== (c) $ROWS rows to CSV (a file), wall time and peak RSS"
q="select i, i * 2.5 as half, 'row ' || i as label, date '2024-01-01' + (i % 365)::int as day from range($ROWS) t(i)"
out="$here/out/sql-csv"
mkdir -p "$out"
# wall seconds and peak RSS (MiB) of a command writing to a file
measure() {
    local file="$1"; shift
    python3 - "$file" "$@" <<'EOF'
import resource, subprocess, sys, time
file, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
with open(file, "wb") as f:
    subprocess.run(argv, stdout=f, check=True)
wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{wall:.3f} s, peak RSS {rss:.0f} MiB")
EOF
}
echo "tarmac sql: $(measure "$out/tarmac.csv" "$TARMAC" sql :memory: -c "$q")   $(wc -l <"$out/tarmac.csv") lines"
q3="select i, i * 2.5 as half, 'row ' || i as label, date '2024-01-01' + (i % 365)::int as day from range($((ROWS * 3))) t(i)"
echo "tarmac sql, 3× the rows: $(measure "$out/tarmac3.csv" "$TARMAC" sql :memory: -c "$q3")   (memory stays flat)"
rm -f "$out/tarmac3.csv"
if [ -n "$DUCKDB" ]; then
    echo "duckdb:     $(measure "$out/duckdb.csv" "$DUCKDB" :memory: -csv -c "$q")   $(wc -l <"$out/duckdb.csv") lines"
    if cmp -s "$out/tarmac.csv" "$out/duckdb.csv"; then echo "(identical CSV)"; else echo "(CSV differs: $(diff "$out/tarmac.csv" "$out/duckdb.csv" | head -3 | tr '\n' ' '))"; fi
fi

echo
echo "== (d) completion, 10,000 columns (debug build, worst of 100 completions)"
(cd "$repo" && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tarmac-target}" \
    cargo test -q -p tarmac -p shell --lib completion_with_ten_thousand_columns -- --nocapture 2>&1 | grep "completion, 10,000" || true)
