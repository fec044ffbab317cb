#!/usr/bin/env python3
"""Compare two warehouses relation by relation: row count, column names and
types, and an order-independent digest of the contents.

Used to hold what `tarmac build` makes of warehouse/ against what dbt-core +
dbt-duckdb make of the same project on a copy of the same bronze:

    python3 bench/warehouse_compare.py tarmac.duckdb dbt.duckdb

Needs the `duckdb` Python package (the dbt venv has it). Exit code 1 when a
relation differs.
"""
import hashlib
import sys

import duckdb


def relations(con):
    return {
        (s, t): con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [s, t],
        ).fetchall()
        for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('bronze', 'silver', 'gold') "
            "and table_name not like '%__dbt_backup' and table_name not like '%__dbt_tmp' order by all"
        ).fetchall()
    }


def digest(con, schema, table):
    rows = con.execute(f'select * from "{schema}"."{table}"').fetchall()
    h = hashlib.sha256()
    for r in sorted(repr(r) for r in rows):
        h.update(r.encode())
        h.update(b"\n")
    return len(rows), h.hexdigest()[:16]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a = duckdb.connect(sys.argv[1], read_only=True)
    b = duckdb.connect(sys.argv[2], read_only=True)
    a.execute("set TimeZone = 'UTC'")
    b.execute("set TimeZone = 'UTC'")
    ra, rb = relations(a), relations(b)
    bad = 0
    for key in sorted(set(ra) | set(rb)):
        name = ".".join(key)
        if key not in ra or key not in rb:
            print(f"{name:40} only in {'first' if key in ra else 'second'}")
            bad += 1
            continue
        if ra[key] != rb[key]:
            print(f"{name:40} columns differ:\n  {ra[key]}\n  {rb[key]}")
            bad += 1
            continue
        (na, da), (nb, db) = digest(a, *key), digest(b, *key)
        same = (na, da) == (nb, db)
        bad += not same
        print(f"{name:40} {na:>8} {da}  {'same' if same else f'DIFFERS: {nb} {db}'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
