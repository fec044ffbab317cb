#!/usr/bin/env bash
# Makes (or reuses) the virtualenv holding the dbt that Tarmac is compared
# against, with the versions pinned in bench/dbt-requirements.txt, and prints
# the path of its dbt (see bench/py_venv.sh).
# Usage: bash bench/dbt_venv.sh [VENV_DIR]   (default ~/.cache/tarmac-dbt-venv)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dbt="$(bash "$root/bench/py_venv.sh" "$root/bench/dbt-requirements.txt" "${1:-$HOME/.cache/tarmac-dbt-venv}" dbt)"
"$dbt" --version >/dev/null
echo "$dbt"
