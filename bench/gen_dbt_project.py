#!/usr/bin/env python3
"""Generate a dbt-duckdb project of N models for the engine benchmarks.

Shape (a realistic layered DAG, deterministic for a given --seed):
  sources   raw tables declared in models/sources.yml (10 sources x 10 tables)
  staging   ~20 % of the models, one source each, views
  intermediate ~50 %, ref 1-5 earlier staging/intermediate models, views
            (2 % of them ephemeral, reading non-ephemeral parents only)
  marts     ~30 %, ref 1-5 intermediate/staging models, tables; 10 % of them
            incremental with an `is_incremental()` block
Models live in 10 domain folders per layer; dbt_project.yml configures the
layers and domains (+materialized, +tags, +schema, +meta); every folder has a
properties YAML with descriptions, columns and tests; models call project
macros (with loops and `return`), `var()` and `config()`; a custom
`generate_schema_name` is defined, as many real projects do.

--trivial writes N `select 1` view models with no refs instead (the
per-node execution overhead benchmark).

Usage: gen_dbt_project.py OUT_DIR [--models N] [--seed S] [--trivial]
"""

import argparse
import os
import random
import shutil

DOMAINS = [
    "finance", "sales", "marketing", "product", "ops",
    "support", "hr", "logistics", "billing", "growth",
]

MACROS = """\
{% macro cents_to_dollars(column_name, scale=2) -%}
    round({{ column_name }} / 100.0, {{ scale }})
{%- endmacro %}

{% macro surrogate_key(fields) -%}
    md5(concat_ws('|'{% for f in fields %}, coalesce(cast({{ f }} as varchar), '_null_'){% endfor %}))
{%- endmacro %}

{% macro status_values() %}
    {{ return(['placed', 'shipped', 'completed', 'returned']) }}
{% endmacro %}

{% macro pivot_status(column) -%}
    {%- for s in status_values() %}
    sum(case when {{ column }} = '{{ s }}' then 1 else 0 end) as n_{{ s }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{% macro limit_in_dev(n=1000) -%}
    {%- if target.name == 'dev_limit' %} limit {{ n }}{% endif -%}
{%- endmacro %}
"""

SCHEMA_MACRO = """\
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set default_schema = target.schema -%}
    {%- if custom_schema_name is none -%}
        {{ default_schema }}
    {%- else -%}
        {{ default_schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
"""

PROFILE = """\
bench:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('BENCH_DB', 'bench.duckdb') }}"
      schema: main
      threads: 4
"""


def project_yml(trivial):
    if trivial:
        return (
            "name: bench\nversion: '1.0.0'\nconfig-version: 2\nprofile: bench\n"
            "model-paths: ['models']\nmacro-paths: ['macros']\n"
            "models:\n  bench:\n    +materialized: view\n"
        )
    lines = [
        "name: bench",
        "version: '1.0.0'",
        "config-version: 2",
        "profile: bench",
        "model-paths: ['models']",
        "macro-paths: ['macros']",
        "vars:",
        "  start_date: '2020-01-01'",
        "  bench:",
        "    amount_scale: 2",
        "models:",
        "  bench:",
        "    +materialized: view",
        "    staging:",
        "      +tags: ['staging']",
        "      +meta: {layer: staging}",
        "    intermediate:",
        "      +tags: ['intermediate']",
        "      +schema: int",
        "    marts:",
        "      +materialized: table",
        "      +tags: ['marts']",
    ]
    for i, d in enumerate(DOMAINS):
        lines.append(f"      {d}:")
        lines.append(f"        +schema: {d}")
        lines.append(f"        +meta: {{owner: team_{i}}}")
        if i % 3 == 0:
            lines.append(f"        +tags: ['{d}', 'daily']")
    return "\n".join(lines) + "\n"


def sources_yml():
    out = ["version: 2", "", "sources:"]
    for s in range(10):
        out.append(f"  - name: src_{s}")
        out.append(f"    description: Raw tables loaded by loader {s}.")
        out.append("    schema: raw")
        out.append("    tables:")
        for t in range(10):
            out.append(f"      - name: t_{t}")
            out.append(f"        description: Raw table {t} of source {s}.")
            out.append("        columns:")
            out.append("          - name: id")
            out.append("            description: Primary key.")
    return "\n".join(out) + "\n"


def model_sql(kind, name, parents, rng, ephemeral, incremental):
    lines = []
    if ephemeral:
        lines.append("{{ config(materialized='ephemeral') }}")
    if incremental:
        lines.append(
            "{{ config(materialized='incremental', unique_key='id', "
            "on_schema_change='append_new_columns') }}"
        )
    if kind == "staging":
        src, tbl = parents[0]
        lines += [
            "with source as (",
            f"    select * from {{{{ source('{src}', '{tbl}') }}}}",
            "),",
            "renamed as (",
            "    select",
            "        id,",
            "        customer_id,",
            "        status,",
            "        {{ cents_to_dollars('amount_cents', var('amount_scale')) }} as amount,",
            "        {{ surrogate_key(['id', 'customer_id']) }} as row_key,",
            "        created_at",
            "    from source",
            "    where created_at >= '{{ var(\"start_date\") }}'",
            ")",
            "select * from renamed{{ limit_in_dev() }}",
        ]
        return "\n".join(lines) + "\n"
    ctes = []
    for i, p in enumerate(parents):
        ctes.append(f"p{i} as (\n    select * from {{{{ ref('{p}') }}}}\n)")
    lines.append("with " + ",\n".join(ctes) + ",")
    lines.append("joined as (")
    lines.append("    select")
    lines.append("        p0.id,")
    lines.append("        p0.customer_id,")
    lines.append("        p0.status,")
    lines.append("        p0.created_at,")
    lines.append(
        "        " + " + ".join(f"coalesce(p{i}.amount, 0)" for i in range(len(parents)))
        + " as amount"
    )
    lines.append("    from p0")
    for i in range(1, len(parents)):
        lines.append(f"    left join p{i} on p{i}.id = p0.id")
    lines.append(")")
    if kind == "marts" and rng.random() < 0.5:
        lines += [
            "select",
            "    customer_id,",
            "    max(created_at) as created_at,",
            "    min(id) as id,",
            "    sum(amount) as amount,",
            "    {{ pivot_status('status') }}",
            "from joined",
        ]
        if incremental:
            lines += [
                "{% if is_incremental() %}",
                "where created_at > (select max(created_at) from {{ this }})",
                "{% endif %}",
            ]
        lines.append("group by customer_id")
    else:
        lines.append("select * from joined")
        if incremental:
            lines += [
                "{% if is_incremental() %}",
                "where created_at > (select max(created_at) from {{ this }})",
                "{% endif %}",
            ]
    return "\n".join(lines) + "\n"


def generate(out, n, seed, trivial):
    rng = random.Random(seed)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "models"))
    os.makedirs(os.path.join(out, "macros"))
    with open(os.path.join(out, "dbt_project.yml"), "w") as f:
        f.write(project_yml(trivial))
    with open(os.path.join(out, "profiles.yml"), "w") as f:
        f.write(PROFILE)
    if trivial:
        for i in range(n):
            with open(os.path.join(out, "models", f"m_{i:05d}.sql"), "w") as f:
                f.write("select 1 as one\n")
        return
    with open(os.path.join(out, "macros", "helpers.sql"), "w") as f:
        f.write(MACROS)
    with open(os.path.join(out, "macros", "generate_schema_name.sql"), "w") as f:
        f.write(SCHEMA_MACRO)
    with open(os.path.join(out, "models", "sources.yml"), "w") as f:
        f.write(sources_yml())
    n_stg = max(1, n // 5)
    n_int = max(1, n // 2)
    n_mart = max(1, n - n_stg - n_int)
    staging, inter, ephemerals = [], [], set()
    by_folder = {}  # (layer, domain) -> [(name, description)]

    def write(layer, domain, name, sql):
        d = os.path.join(out, "models", layer, domain)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name + ".sql"), "w") as f:
            f.write(sql)
        by_folder.setdefault((layer, domain), []).append(name)

    for i in range(n_stg):
        dom = DOMAINS[i % len(DOMAINS)]
        name = f"stg_{dom}_{i:05d}"
        src = (f"src_{rng.randrange(10)}", f"t_{rng.randrange(10)}")
        write("staging", dom, name, model_sql("staging", name, [src], rng, False, False))
        staging.append(name)
    for i in range(n_int):
        dom = DOMAINS[i % len(DOMAINS)]
        name = f"int_{dom}_{i:05d}"
        k = rng.randint(1, 5)
        pool = staging + inter
        # prefer recent models: realistic depth without a single chain
        parents = []
        for _ in range(k):
            p = pool[max(0, len(pool) - 1 - int(rng.expovariate(1 / 400)))]
            if p not in parents and p not in ephemerals:
                parents.append(p)
        if not parents:
            parents = [staging[rng.randrange(len(staging))]]
        eph = rng.random() < 0.02
        write("intermediate", dom, name, model_sql("intermediate", name, parents, rng, eph, False))
        inter.append(name)
        if eph:
            ephemerals.add(name)
    for i in range(n_mart):
        dom = DOMAINS[i % len(DOMAINS)]
        name = f"fct_{dom}_{i:05d}"
        k = rng.randint(1, 5)
        pool = inter + staging
        parents = []
        for _ in range(k):
            p = pool[rng.randrange(len(pool))]
            if p not in parents:
                parents.append(p)
        inc = rng.random() < 0.1
        write("marts", dom, name, model_sql("marts", name, parents, rng, False, inc))
    for (layer, dom), names in by_folder.items():
        lines = ["version: 2", "", "models:"]
        for name in names:
            lines.append(f"  - name: {name}")
            lines.append(f"    description: >")
            lines.append(f"      The {layer} model {name} of the {dom} domain: one row per")
            lines.append("      record, with amounts in dollars and a surrogate key.")
            if rng.random() < 0.2:
                lines.append("    config:")
                lines.append(f"      tags: ['{dom}_critical']")
            lines.append("    columns:")
            lines.append("      - name: id")
            lines.append("        description: Primary key.")
            lines.append("        data_tests: [not_null]")
            lines.append("      - name: amount")
            lines.append("        description: Amount in dollars.")
        with open(os.path.join(out, "models", layer, dom, f"_{layer}_{dom}.yml"), "w") as f:
            f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--models", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--trivial", action="store_true")
    a = ap.parse_args()
    generate(a.out, a.models, a.seed, a.trivial)


if __name__ == "__main__":
    main()
