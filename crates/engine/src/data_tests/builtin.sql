{#
  Tarmac's generic data tests that every project has without installing a
  package: unique, not_null, accepted_values and relationships, and the two
  helpers that generic tests from packages call as well (get_where_subquery,
  should_store_failures). The behaviour is dbt's documented one:
    https://docs.getdbt.com/docs/build/data-tests
    https://docs.getdbt.com/reference/resource-properties/data-tests
    https://docs.getdbt.com/reference/resource-configs/where
    https://docs.getdbt.com/reference/resource-configs/store_failures
    https://docs.getdbt.com/reference/dbt-jinja-functions/dispatch

  Why these are Jinja macros and not Rust: their names and parameters are
  an interface. A project or package replaces any of them by defining a
  macro or test of the same name, and replaces only an implementation by
  defining <adapter>__test_<name> or default__test_<name>, which the entry
  points find through adapter.dispatch in the `dbt` namespace (a project's
  `dispatch:` search order included).

  What a test query returns is its failing rows; counting them (fail_calc),
  warn_if/error_if, limit and storing failures are the test
  materialization's job, in data_tests.rs.

  Why the odd-looking whitespace: compiled and run test SQL is compared byte
  for byte with dbt's (goldens, and the dtests fixture against dbt itself),
  so the text below emits exactly dbt's layout. An entry point writes two
  indented lines, the implementation's SQL and a newline; the Jinja comment
  at the top of each implementation stands on a line that is blank in the
  output.

  Every macro here counts in the "Found N macros" line, which goldens
  record: a helper macro added here changes that line.
#}

{#- store_failures as the test's config resolves it (the YAML entry, the
    test definition's config() call, dbt_project.yml); unset means the
    --store-failures flag. A real boolean, because callers branch on it. -#}
{% macro should_store_failures() -%}
  {%- set from_config = config.get('store_failures') -%}
  {%- set chosen = flags.STORE_FAILURES if from_config is none else from_config -%}
  {{- return(chosen and true or false) -}}
{%- endmacro %}

{#- What a generic test reads as `model`: with a `where` config, the
    relation filtered in a subquery named dbt_subquery; without one, the
    relation object itself, so that tests can still use its parts.
    Dispatched so that an adapter or project can filter differently. -#}
{% macro get_where_subquery(relation) -%}
  {{- return(adapter.dispatch('get_where_subquery', 'dbt')(relation)) -}}
{%- endmacro %}

{% macro default__get_where_subquery(relation) -%}
  {%- set condition = config.get('where') -%}
  {{- return('(select * from ' ~ relation ~ ' where ' ~ condition ~ ') dbt_subquery' if condition else relation) -}}
{%- endmacro %}

{#- unique: one row per value that occurs more than once (nulls are
    not_null's concern). -#}
{% macro test_unique(model, column_name) -%}
{{ '\n    \n    ' }}{{ adapter.dispatch('test_unique', 'dbt')(model, column_name) }}
{% endmacro %}

{% macro default__test_unique(model, column_name) %}
{# duplicated values and how often each occurs #}
select
    {{ column_name }} as unique_field,
    count(*) as n_records

from {{ model }}
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1

{% endmacro %}

{#- not_null: the rows whose column is null. When failures are stored the
    whole row is kept, so that the audit table shows which rows they were;
    otherwise only the column is selected. -#}
{% macro test_not_null(model, column_name) -%}
{{ '\n    \n    ' }}{{ adapter.dispatch('test_not_null', 'dbt')(model, column_name) }}
{% endmacro %}

{% macro default__test_not_null(model, column_name) %}
{# the null rows (two blank lines follow in the output) #}


select {{ '*' if should_store_failures() else column_name }}
from {{ model }}
where {{ column_name }} is null

{% endmacro %}

{#- accepted_values: each value outside `values`, with its row count.
    `quote=false` compares with the values as written (numbers, booleans,
    expressions) instead of as string literals. -#}
{% macro test_accepted_values(model, column_name, values, quote=True) -%}
{{ '\n    \n    ' }}{{ adapter.dispatch('test_accepted_values', 'dbt')(model, column_name, values, quote) }}
{% endmacro %}

{% macro default__test_accepted_values(model, column_name, values, quote=True) %}
{# the distinct values found, minus the accepted ones #}
with all_values as (

    select
        {{ column_name }} as value_field,
        count(*) as n_records

    from {{ model }}
    group by {{ column_name }}

)

select *
from all_values
where value_field not in (
    {% set mark = "'" if quote else "" -%}
    {% for accepted in values -%}
        {{ mark }}{{ accepted }}{{ mark }}{{ "," if not loop.last else "" }}
    {%- endfor %}
)

{% endmacro %}

{#- relationships: each non-null `column_name` value of the tested model
    with no row in `to` whose `field` equals it (a dangling reference). -#}
{% macro test_relationships(model, column_name, to, field) -%}
{{ '\n    \n    ' }}{{ adapter.dispatch('test_relationships', 'dbt')(model, column_name, to, field) }}
{% endmacro %}

{% macro default__test_relationships(model, column_name, to, field) %}
{# child rows looked up in the parent; the unmatched ones fail #}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select {{ field }} as to_field
    from {{ to }}
)

select
    from_field

from child
left join parent
    on child.from_field = parent.to_field

where parent.to_field is null

{% endmacro %}
