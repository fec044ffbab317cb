# Sourced by the bench scripts (after they set $root): the dbt that Tarmac is
# compared against, found as the tests find it (crates/testkit): $TARMAC_DBT,
# else the repository's .venv-dbt. Sets $dbt, $dbt_python (the venv's Python,
# which has the duckdb module) and $dbt_missing (what to say without it).
dbt="${TARMAC_DBT:-$root/.venv-dbt/bin/dbt}"
dbt_python="$(dirname "$dbt")/python"
dbt_missing="no dbt at $dbt: set TARMAC_DBT to a dbt executable, or make one with: bash bench/dbt_venv.sh \"$root/.venv-dbt\""
