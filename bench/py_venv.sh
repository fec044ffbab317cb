#!/usr/bin/env bash
# Makes (or reuses) a Python virtualenv holding the versions pinned in a
# requirements file, and prints the path of one program in it. It installs
# only when the venv is missing or the pins changed since it was made (a stamp
# file inside it records them), so CI can keep venvs outside the clone and
# reuse them across runs. Tests and benchmarks only: Tarmac never runs Python.
# Usage: bash bench/py_venv.sh REQUIREMENTS VENV_DIR PROGRAM
set -euo pipefail
pins="$1"
venv="$2"
program="$3"
stamp="$venv/.tarmac-pins"
if [ -x "$venv/bin/$program" ] && [ -f "$stamp" ] && cmp -s "$pins" "$stamp"; then
  echo "$venv/bin/$program"
  exit 0
fi
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "py_venv.sh: creating $venv" >&2
  "$python" -m venv "$venv" >&2
fi
echo "py_venv.sh: installing $(grep -v '^#' "$pins" | tr '\n' ' ')into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$pins" >&2
[ -x "$venv/bin/$program" ] || { echo "py_venv.sh: $venv/bin/$program missing after install" >&2; exit 1; }
cp "$pins" "$stamp"
echo "$venv/bin/$program"
