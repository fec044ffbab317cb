"""Reads tables of a Tarmac lake back with pyiceberg, a separate
implementation of Apache Iceberg, through the same SQL catalog.

Usage: python read_back.py SPEC.json
SPEC: {"uri": SQLAlchemy URL of the catalog, "name": catalog name,
       "props": extra catalog properties (s3.endpoint, ...),
       "tables": ["silver.flights", ...] or null for every table,
       "out": folder}
For each table it writes OUT/<namespace>.<table>.parquet (the current
snapshot's rows, as pyarrow decoded them) and prints one JSON line: the
table, row count, schema as Iceberg type strings, partition spec, snapshot
count and the current snapshot's operation.
"""

import json
import os
import sys

import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog


def main():
    spec = json.load(open(sys.argv[1]))
    catalog = SqlCatalog(spec["name"], uri=spec["uri"], **spec.get("props", {}))
    tables = spec.get("tables")
    if tables is None:
        tables = []
        for ns in catalog.list_namespaces():
            for ident in catalog.list_tables(ns):
                tables.append(".".join(ident))
    for name in sorted(tables):
        ns, table = name.rsplit(".", 1)
        t = catalog.load_table((ns, table))
        data = t.scan().to_arrow()
        pq.write_table(data, os.path.join(spec["out"], f"{name}.parquet"))
        snap = t.current_snapshot()
        print(
            json.dumps(
                {
                    "table": name,
                    "rows": data.num_rows,
                    "schema": [[f.name, str(f.field_type)] for f in t.schema().fields],
                    "partition": [
                        f"{pf.transform}({t.schema().find_field(pf.source_id).name})"
                        for pf in t.spec().fields
                    ],
                    "snapshots": len(t.metadata.snapshots),
                    "operation": snap.summary.operation.value if snap else None,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
