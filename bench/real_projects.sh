#!/usr/bin/env bash
# Builds the real dbt-duckdb projects vendored under bench/projects/ with
# dbt-core 1.10 + dbt-duckdb 1.9 and with Tarmac, and compares every relation
# and every node status (see real_projects.py). Any further arguments go to
# real_projects.py (--only NAME, --write-golden, --keep DIR, --verbose).
# Usage: bash bench/real_projects.sh [path/to/tarmac] [args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tarmac="${1:-$HOME/.cache/tarmac-target-release/release/tarmac}"
[ $# -gt 0 ] && shift
venv="${DBT_VENV:-$root/.venv-dbt}"
[ -x "$venv/bin/dbt" ] || venv=/work/main/.venv-dbt
[ -x "$venv/bin/dbt" ] || { echo "no dbt venv at $venv: python3 -m venv .venv-dbt && .venv-dbt/bin/pip install 'dbt-core>=1.10,<1.11' 'dbt-duckdb>=1.9,<1.10'"; exit 1; }
[ -x "$tarmac" ] || { echo "no tarmac binary at $tarmac (cargo build --release -p tarmac)"; exit 1; }
exec "$venv/bin/python" "$root/bench/real_projects.py" --dbt "$venv/bin/dbt" --tarmac "$tarmac" "$@"
