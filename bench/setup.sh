#!/usr/bin/env bash
# Creates bench/.venv with the reference importer's dependency (duckdb; the reference parses with the standard library).
# Idempotent: re-running only installs what is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup.sh: $python not found; install Python 3.9+ first" >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "setup.sh: creating $venv" >&2
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
"$venv/bin/python" -c 'import duckdb; print("bench venv ready: duckdb", duckdb.__version__)'
