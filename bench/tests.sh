#!/usr/bin/env bash
# Per-test overhead of `tarmac test`: a generated project with one table of
# N columns and one not_null test per column, run on 1 thread; the overhead
# per test is (wall time of `tarmac test` - wall time of `tarmac ls`, which
# loads the same project) / N, minus nothing: the tests' SQL is a scan of a
# one-row table, so this is almost all overhead. Target: under 2 ms. A
# second line subtracts the time spent inside DuckDB (from -vv's timing
# line): on a loaded machine DuckDB's planning of each query dominates.
# Usage: bash bench/tests.sh [path/to/tarmac] [N]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tarmac="${1:-$root/target/release/tarmac}"
n="${2:-500}"
[ -x "$tarmac" ] || { echo "no tarmac binary at $tarmac (cargo build --release -p tarmac)"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
p="$work/p"
mkdir -p "$p/models"
cat > "$p/dbt_project.yml" <<'Y'
name: p
profile: p
Y
cat > "$p/profiles.yml" <<Y
p:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: $work/p.duckdb
      threads: 1
Y
{
  printf '{{ config(materialized="table") }}\nselect '
  for i in $(seq "$n"); do printf '%s%d as c%d' "$([ "$i" -gt 1 ] && echo ', ')" "$i" "$i"; done
  echo
} > "$p/models/wide.sql"
{
  echo "version: 2"; echo "models:"; echo "  - name: wide"; echo "    columns:"
  for i in $(seq "$n"); do echo "      - name: c$i"; echo "        data_tests: [not_null]"; done
} > "$p/models/wide.yml"
"$tarmac" run --project-dir "$p" --profiles-dir "$p" >/dev/null
now() { date +%s.%N; }
s=$(now); "$tarmac" ls --project-dir "$p" --profiles-dir "$p" >/dev/null; e=$(now)
load=$(echo "$e - $s" | bc)
s=$(now); "$tarmac" -vv test --project-dir "$p" --profiles-dir "$p" --threads 1 >"$work/out" 2>&1; e=$(now)
run=$(echo "$e - $s" | bc)
# DuckDB's own time (planning and running the test queries), from -vv's timing line
duck="$(sed 's/\x1b\[[0-9;]*m//g' "$work/out" | sed -n 's/.*; \(.*\) spent inside DuckDB.*/\1/p')"
duck_s="$(python3 -c "import re; m=re.match(r'([0-9.]+)(ms|s|µs)', '$duck'); print(float(m.group(1))*{'s':1,'ms':1e-3,'µs':1e-6}[m.group(2)] if m else 0)")"
printf 'tests: %d  load (ls): %.3fs  test: %.3fs  per test: %.3f ms (target < 2 ms)\n' \
  "$n" "$load" "$run" "$(echo "($run - $load) * 1000 / $n" | bc -l)"
printf 'inside DuckDB: %.3fs  -> Tarmac overhead per test (DuckDB time subtracted): %.3f ms\n' \
  "$duck_s" "$(echo "($run - $load - $duck_s) * 1000 / $n" | bc -l)"
