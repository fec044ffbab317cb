#!/usr/bin/env bash
# Times `dbt build` (dbt-core + dbt-duckdb, see bench/find_dbt.sh) against
# `tarmac build` on the engine's jaffle fixture, side by side in one run.
# Usage: bash bench/dbt_build.sh [path/to/tarmac] [runs]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tarmac="${1:-$HOME/.cache/tarmac-target-release/release/tarmac}"
runs="${2:-3}"
. "$root/bench/find_dbt.sh"
[ -x "$dbt" ] || { echo "$dbt_missing"; exit 1; }
[ -x "$tarmac" ] || { echo "no tarmac binary at $tarmac"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/crates/engine/tests/fixtures/jaffle" "$work/dbt"
cp -r "$root/crates/engine/tests/fixtures/jaffle" "$work/tarmac"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
now() { date +%s.%N; }
td=0; tt=0
for i in $(seq "$runs"); do
  rm -f "$work/dbt/jaffle.duckdb" "$work/tarmac/jaffle.duckdb"
  s=$(now); (cd "$work/dbt" && TARMAC_DB="$work/dbt/jaffle.duckdb" "$dbt" build --project-dir . --profiles-dir . >/dev/null); e=$(now)
  d=$(echo "$e - $s" | bc)
  s=$(now); (cd "$work/tarmac" && TARMAC_DB="$work/tarmac/jaffle.duckdb" "$tarmac" build --project-dir . --profiles-dir . >/dev/null); e=$(now)
  t=$(echo "$e - $s" | bc)
  printf 'run %d: dbt build %.3fs   tarmac build %.3fs\n' "$i" "$d" "$t"
  td=$(echo "$td + $d" | bc); tt=$(echo "$tt + $t" | bc)
done
printf 'mean: dbt %.3fs, tarmac %.3fs, speed-up %.1fx\n' "$(echo "$td / $runs" | bc -l)" "$(echo "$tt / $runs" | bc -l)" "$(echo "$td / $tt" | bc -l)"
