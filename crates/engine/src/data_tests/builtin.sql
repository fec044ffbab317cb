{# dbt-core's built-in generic tests and their helpers (global_project,
   Apache-2.0), in the forms Tarmac's Jinja runs. A project overrides any of
   them by defining a macro or test of the same name. #}

{% macro should_store_failures() -%}
{%- set s = config.get('store_failures') -%}
{%- if s is none -%}{%- set s = flags.STORE_FAILURES -%}{%- endif -%}
{{ return(true if s else false) }}
{%- endmacro %}

{% macro get_where_subquery(relation) -%}
{{ return(adapter.dispatch('get_where_subquery', 'dbt')(relation)) }}
{%- endmacro %}

{% macro default__get_where_subquery(relation) -%}
{%- set where = config.get('where', '') -%}
{%- if where -%}
{{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') }}
{%- else -%}
{{ return(relation) }}
{%- endif -%}
{%- endmacro %}

{% macro test_unique(model, column_name) %}
    {% set macro = adapter.dispatch('test_unique', 'dbt') %}
    {{ macro(model, column_name) }}
{% endmacro %}

{% macro test_not_null(model, column_name) %}
    {% set macro = adapter.dispatch('test_not_null', 'dbt') %}
    {{ macro(model, column_name) }}
{% endmacro %}

{% macro test_accepted_values(model, column_name, values, quote=True) %}
    {% set macro = adapter.dispatch('test_accepted_values', 'dbt') %}
    {{ macro(model, column_name, values, quote) }}
{% endmacro %}

{% macro test_relationships(model, column_name, to, field) %}
    {% set macro = adapter.dispatch('test_relationships', 'dbt') %}
    {{ macro(model, column_name, to, field) }}
{% endmacro %}

{% macro default__test_accepted_values(model, column_name, values, quote=True) %}

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
    {% for value in values -%}
        {% if quote -%}
        '{{ value }}'
        {%- else -%}
        {{ value }}
        {%- endif -%}
        {%- if not loop.last -%},{%- endif %}
    {%- endfor %}
)

{% endmacro %}

{% macro default__test_not_null(model, column_name) %}

{% set column_list = '*' if should_store_failures() else column_name %}

select {{ column_list }}
from {{ model }}
where {{ column_name }} is null

{% endmacro %}

{% macro default__test_relationships(model, column_name, to, field) %}

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

{% macro default__test_unique(model, column_name) %}

select
    {{ column_name }} as unique_field,
    count(*) as n_records

from {{ model }}
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1

{% endmacro %}
