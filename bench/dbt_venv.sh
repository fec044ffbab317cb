#!/usr/bin/env bash
# Makes (or reuses) the virtualenv holding the dbt that Tarmac is compared
# against, with the versions pinned in bench/dbt-requirements.txt, and prints
# the path of its dbt. It installs only when the venv is missing or the pins
# changed since it was made (a stamp file inside it records them), so CI can
# keep it outside the clone and reuse it across runs.
# Usage: bash bench/dbt_venv.sh [VENV_DIR]   (default ~/.cache/tarmac-dbt-venv)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$HOME/.cache/tarmac-dbt-venv}"
pins="$root/bench/dbt-requirements.txt"
stamp="$venv/.tarmac-dbt-pins"
if [ -x "$venv/bin/dbt" ] && [ -f "$stamp" ] && cmp -s "$pins" "$stamp"; then
  echo "$venv/bin/dbt"
  exit 0
fi
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "dbt_venv.sh: creating $venv" >&2
  "$python" -m venv "$venv" >&2
fi
echo "dbt_venv.sh: installing $(grep -v '^#' "$pins" | tr '\n' ' ')into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$pins" >&2
"$venv/bin/dbt" --version >/dev/null
cp "$pins" "$stamp"
echo "$venv/bin/dbt"
