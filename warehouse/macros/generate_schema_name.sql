{#- Schemas are used verbatim: models go to `silver` and `gold`, not dbt's
    default `<target schema>_silver`, so the warehouse reads the same whoever
    built it. https://docs.getdbt.com/docs/build/custom-schemas -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
