#!/usr/bin/env bash
# Builds the real dbt-duckdb projects vendored under bench/projects/ with
# dbt-core + dbt-duckdb (bench/find_dbt.sh) and with Tarmac, and compares every relation
# and every node status (see real_projects.py). Any further arguments go to
# real_projects.py (--only NAME, --write-golden, --keep DIR, --verbose).
# Usage: bash bench/real_projects.sh [path/to/tarmac] [args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tarmac="${1:-$HOME/.cache/tarmac-target-release/release/tarmac}"
[ $# -gt 0 ] && shift
. "$root/bench/find_dbt.sh"
[ -x "$dbt" ] || { echo "$dbt_missing"; exit 1; }
[ -x "$tarmac" ] || { echo "no tarmac binary at $tarmac (cargo build --release -p tarmac)"; exit 1; }
exec "$dbt_python" "$root/bench/real_projects.py" --dbt "$dbt" --tarmac "$tarmac" "$@"
