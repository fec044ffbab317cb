#!/usr/bin/env bash
# Engine performance figures (issue 5): parse/compile of a generated
# 10,000-model project (cold, then warm with partial parsing), `docs
# generate` on it, peak memory,
# per-node execution overhead on trivial views (DuckDB's own time
# subtracted), and dbt parse/compile on the same project when dbt is there
# (bench/find_dbt.sh) (DBT_MODELS picks the size dbt gets, default 1000: dbt takes minutes
# on 10,000).
# Usage: bash bench/engine_perf.sh [path/to/tarmac] [models] [trivial_models]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tarmac="${1:-$HOME/.cache/tarmac-target-release/release/tarmac}"
models="${2:-10000}"
trivial="${3:-2000}"
dbt_models="${DBT_MODELS:-1000}"
. "$root/bench/find_dbt.sh"
[ -x "$tarmac" ] || { echo "no tarmac binary at $tarmac"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
gen() { python3 "$root/bench/gen_dbt_project.py" "$@"; }
# wall seconds and peak RSS (MB) of a command
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>&1 || { cat "$work/out"; exit 1; }
  read -r secs kb <"$work/time"
  printf '%8.2fs %6d MB' "$secs" "$((kb / 1024))"
}
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

gen "$work/p" --models "$models"
cd "$work/p"
echo "== $models models ($(find models -name '*.sql' | wc -l) files)"
echo "tarmac parse   cold (--no-partial-parse): $(measure "$tarmac" parse --no-partial-parse --project-dir . --profiles-dir .)"
echo "tarmac parse   state written            : $(measure "$tarmac" parse --project-dir . --profiles-dir .)"
echo "tarmac parse   warm (nothing changed)   : $(measure "$tarmac" parse --project-dir . --profiles-dir .)"
first="$(find models/intermediate -name "*.sql" | sort | sed -n 1p)"
echo "-- edited" >>"$first"
echo "tarmac parse   warm (one model edited)  : $(measure "$tarmac" parse --project-dir . --profiles-dir .)"
# target/ is moved out of the project, not deleted: creating ~20,000 files
# right after deleting as many costs ext4 a scan of its recently deleted
# inodes at each new file, for minutes after the deletion (measured here:
# 7-9 s of system time against 1 s, even 30 s after a sync), whoever
# writes them. The moved copy goes with $work at the end.
mv target "$work/target-parse"
echo "tarmac compile cold (no target/)        : $(measure "$tarmac" compile --no-partial-parse --project-dir . --profiles-dir .)"
echo "tarmac compile warm (partial parse)     : $(measure "$tarmac" compile --project-dir . --profiles-dir .)"
echo "tarmac compile warm (partial parse)     : $(measure "$tarmac" compile --project-dir . --profiles-dir .)"
# the catalog of the same project, nothing built (the issue's "empty
# warehouse"): compile, manifest, catalog.json, lineage and the static site
echo "tarmac docs generate (nothing built)    : $(measure "$tarmac" docs generate --project-dir . --profiles-dir .)"
# again: column lineage is reused (its inputs are unchanged), which leaves
# what every later `docs generate` pays
echo "tarmac docs generate (lineage reused)   : $(measure "$tarmac" docs generate --project-dir . --profiles-dir .)"

gen "$work/t" --models "$trivial" --trivial
cd "$work/t"
echo "== $trivial trivial views (select 1), tarmac run --threads 1"
for i in 1 2; do
  rm -f bench.duckdb
  line="$(measure "$tarmac" -vv run --threads 1 --project-dir . --profiles-dir .)"
  wall="$(awk '{print $1}' "$work/time")"
  duck="$(grep -o 'spent inside DuckDB' -B0 "$work/out" >/dev/null && sed -n 's/.*; \(.*\) spent inside DuckDB.*/\1/p' "$work/out")"
  duck_s="$(python3 -c "import re,sys; s='$duck'; m=re.match(r'([0-9.]+)(ms|s|µs)', s); f={'s':1,'ms':1e-3,'µs':1e-6}[m.group(2)]; print(float(m.group(1))*f)")"
  per="$(python3 -c "print(f'{($wall - $duck_s) / $trivial * 1000:.2f}')")"
  echo "run $i: $line, DuckDB $duck -> overhead ${per} ms/node (whole process: start, parse, scheduling, artifacts)"
done

if [ -x "$dbt" ]; then
  gen "$work/d" --models "$dbt_models"
  cd "$work/d"
  echo "== dbt on the same generator, $dbt_models models"
  echo "dbt parse   (no partial parse): $(measure "$dbt" parse --no-partial-parse --project-dir . --profiles-dir .)"
  echo "dbt parse   (partial parse)   : $(measure "$dbt" parse --project-dir . --profiles-dir .)"
  echo "dbt compile                   : $(measure "$dbt" compile --project-dir . --profiles-dir .)"
  rm -rf target
  echo "tarmac parse   cold            : $(measure "$tarmac" parse --no-partial-parse --project-dir . --profiles-dir .)"
  echo "tarmac compile cold            : $(measure "$tarmac" compile --no-partial-parse --project-dir . --profiles-dir .)"
else
  echo "(no dbt at $dbt: dbt comparison skipped)"
fi
