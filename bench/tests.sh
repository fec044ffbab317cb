#!/usr/bin/env bash
# Per-test overhead of `tarmac test`: a generated project with one table of
# N columns and one not_null test per column, run on 1 thread; the overhead
# per test is (wall time of `tarmac test` - wall time of `tarmac ls`, which
# loads the same project) / N, minus nothing: the tests' SQL is a scan of a
# one-row table, so this is almost all overhead. Target: under 2 ms.
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
s=$(now); "$tarmac" test --project-dir "$p" --profiles-dir "$p" --threads 1 >/dev/null; e=$(now)
run=$(echo "$e - $s" | bc)
printf 'tests: %d  load (ls): %.3fs  test: %.3fs  per test: %.3f ms (target < 2 ms)\n' \
  "$n" "$load" "$run" "$(echo "($run - $load) * 1000 / $n" | bc -l)"
