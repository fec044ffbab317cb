{#- The `dbt` namespace built into Tarmac.

    dbt ships a set of "cross-database" macros (documented at
    docs.getdbt.com, reference/dbt-jinja-functions/cross-database-macros)
    that packages such as dbt_utils and dbt_date build on, plus the hooks
    that name relations (generate_schema_name and friends). Projects expect
    them to exist without installing anything, so Tarmac provides them here.

    How they are reached:
    - `dbt.name(...)` always means the macro in this file;
    - a bare `name(...)` finds the project's (or package's) macro of that
      name first and falls back to this file;
    - each public macro is a thin entry point that goes through
      `adapter.dispatch('name', 'dbt')`, which looks for `duckdb__name`
      and then `default__name` along the project's dispatch search order.
      A project can therefore replace the behaviour of any of them by
      defining its own `default__name` or `duckdb__name`.

    The `default__` bodies render the SQL dbt renders for the same call,
    whitespace included: compiled SQL is compared with dbt's in tests, so
    the odd-looking blank lines some of them emit are deliberate. Where
    DuckDB needs a different spelling, the `duckdb__` variant (further
    down) takes precedence. -#}


{#- ---- Aggregates and arrays ------------------------------------------ -#}

{#- any_value: some value of `expression` from the group. -#}
{% macro any_value(expression) -%}
{{ return(adapter.dispatch('any_value', 'dbt')(expression)) }}
{%- endmacro %}

{% macro default__any_value(expression) -%}
any_value({{ expression }})
{%- endmacro %}

{#- bool_or: true when `expression` holds for at least one row. -#}
{% macro bool_or(expression) -%}
{{ return(adapter.dispatch('bool_or', 'dbt')(expression)) }}
{%- endmacro %}

{% macro default__bool_or(expression) -%}
bool_or({{ expression }})
{%- endmacro %}

{#- array_append: `array` with `new_element` added at the end. -#}
{% macro array_append(array, new_element) -%}
{{ return(adapter.dispatch('array_append', 'dbt')(array, new_element)) }}
{%- endmacro %}

{% macro default__array_append(array, new_element) -%}
array_append({{ array }}, {{ new_element }})
{%- endmacro %}

{#- array_concat: the elements of `array_1` followed by those of `array_2`. -#}
{% macro array_concat(array_1, array_2) -%}
{{ return(adapter.dispatch('array_concat', 'dbt')(array_1, array_2)) }}
{%- endmacro %}

{% macro default__array_concat(array_1, array_2) -%}
array_cat({{ array_1 }}, {{ array_2 }})
{%- endmacro %}

{#- array_construct: an array literal of the SQL expressions in `inputs`.
    With no inputs the element type cannot be inferred, hence the cast of
    the empty literal to `data_type` (integer unless the caller says). -#}
{% macro array_construct(inputs=[], data_type=api.Column.translate_type('integer')) -%}
{{ return(adapter.dispatch('array_construct', 'dbt')(inputs, data_type)) }}
{%- endmacro %}

{% macro default__array_construct(inputs, data_type) -%}
{%- if inputs | length > 0 -%}
    {%- set literal = "array[ " ~ (inputs | join(" , ")) ~ " ]" -%}
{%- else -%}
    {%- set literal = "array[]::" ~ data_type ~ "[]" -%}
{%- endif -%}
{{ "\n    " ~ literal ~ "\n    " }}
{%- endmacro %}


{#- ---- Casts, strings, hashing ---------------------------------------- -#}

{#- cast: `field` converted to the SQL type `type`. -#}
{% macro cast(field, type) -%}
{{ return(adapter.dispatch('cast', 'dbt')(field, type)) }}
{%- endmacro %}

{% macro default__cast(field, type) %}
    cast({{ field }} as {{ type }})
{% endmacro %}

{#- cast_bool_to_text: a boolean as its text form. Unlike the other entry
    points this one writes the dispatched SQL in place instead of returning
    it, so its output carries the surrounding line breaks dbt's does. -#}
{% macro cast_bool_to_text(field) -%}
{{ "\n  " }}{{ adapter.dispatch('cast_bool_to_text', 'dbt')(field) }}
{% endmacro %}

{% macro default__cast_bool_to_text(field) -%}
{{ dbt.default__cast(field, api.Column.translate_type('string')) }}
{%- endmacro %}

{#- concat: the SQL expressions in `fields` joined into one string. -#}
{% macro concat(fields) -%}
{{ return(adapter.dispatch('concat', 'dbt')(fields)) }}
{%- endmacro %}

{% macro default__concat(fields) -%}
{{ fields | join(" || ") }}
{%- endmacro %}

{#- escape_single_quotes: text made safe to put between single quotes, by
    doubling each quote (standard SQL). -#}
{% macro escape_single_quotes(expression) -%}
{{ return(adapter.dispatch('escape_single_quotes', 'dbt')(expression)) }}
{%- endmacro %}

{% macro default__escape_single_quotes(expression) -%}
{{ expression | replace("'", "''") }}
{%- endmacro %}

{#- hash: an md5 digest of `field`, which is first turned into text so any
    column type can be hashed. -#}
{% macro hash(field) -%}
{{ return(adapter.dispatch('hash', 'dbt')(field)) }}
{%- endmacro %}

{% macro default__hash(field) -%}
md5(cast({{ field }} as {{ api.Column.translate_type('string') }}))
{%- endmacro %}


{#- ---- Portable type names ------------------------------------------- -#}
{#- Each returns the adapter's name for a generic type (via
    api.Column.translate_type), for use in casts and DDL. Numeric is the
    exception: dbt fixes its precision and scale at 28 and 6. -#}

{%- macro type_string() -%}
{{ return(adapter.dispatch('type_string', 'dbt')()) }}
{%- endmacro -%}
{%- macro default__type_string() -%}
{{ return(api.Column.translate_type('string')) }}
{%- endmacro -%}

{%- macro type_timestamp() -%}
{{ return(adapter.dispatch('type_timestamp', 'dbt')()) }}
{%- endmacro -%}
{%- macro default__type_timestamp() -%}
{{ return(api.Column.translate_type('timestamp')) }}
{%- endmacro -%}

{%- macro type_float() -%}
{{ return(adapter.dispatch('type_float', 'dbt')()) }}
{%- endmacro -%}
{%- macro default__type_float() -%}
{{ return(api.Column.translate_type('float')) }}
{%- endmacro -%}

{%- macro type_numeric() -%}
{{ return(adapter.dispatch('type_numeric', 'dbt')()) }}
{%- endmacro -%}
{%- macro default__type_numeric() -%}
{{ return(api.Column.numeric_type('numeric', 28, 6)) }}
{%- endmacro -%}

{%- macro type_bigint() -%}
{{ return(adapter.dispatch('type_bigint', 'dbt')()) }}
{%- endmacro -%}
{%- macro default__type_bigint() -%}
{{ return(api.Column.translate_type('bigint')) }}
{%- endmacro -%}

{%- macro type_int() -%}
{{ return(adapter.dispatch('type_int', 'dbt')()) }}
{%- endmacro -%}
{%- macro default__type_int() -%}
{{ return(api.Column.translate_type('integer')) }}
{%- endmacro -%}

{%- macro type_boolean() -%}
{{ return(adapter.dispatch('type_boolean', 'dbt')()) }}
{%- endmacro -%}
{%- macro default__type_boolean() -%}
{{ return(api.Column.translate_type('boolean')) }}
{%- endmacro -%}


{#- ---- Dates ---------------------------------------------------------- -#}

{#- date: a date literal from its parts. The parts go through
    datetime.date first, so an impossible date fails at compile time
    instead of in the warehouse. -#}
{% macro date(year, month, day) -%}
{{ return(adapter.dispatch('date', 'dbt')(year, month, day)) }}
{%- endmacro %}

{% macro default__date(year, month, day) -%}
{%- set iso_day = modules.datetime.date(year, month, day).strftime('%Y-%m-%d') -%}
to_date('{{ iso_day }}', 'YYYY-MM-DD')
{%- endmacro %}

{#- date_trunc: `date` rounded down to the start of its `datepart`. -#}
{% macro date_trunc(datepart, date) -%}
{{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}
{%- endmacro %}

{% macro default__date_trunc(datepart, date) -%}
date_trunc('{{ datepart }}', {{ date }})
{%- endmacro %}

{#- dateadd: `from_date_or_timestamp` moved by `interval` units of
    `datepart` (a negative interval moves it back). -#}
{% macro dateadd(datepart, interval, from_date_or_timestamp) -%}
{{ return(adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp)) }}
{%- endmacro %}

{% macro default__dateadd(datepart, interval, from_date_or_timestamp) -%}
{%- set arguments = [datepart, interval, from_date_or_timestamp] -%}
{{ "\n\n    " }}dateadd(
        {{ arguments | join(",\n        ") }}
        )
{{ "\n" }}
{%- endmacro %}

{#- datediff: how many `datepart` boundaries lie between the two dates
    (positive when second_date is the later one). -#}
{% macro datediff(first_date, second_date, datepart) -%}
{{ return(adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart)) }}
{%- endmacro %}

{% macro default__datediff(first_date, second_date, datepart) -%}
{%- set arguments = [datepart, first_date, second_date] -%}
datediff(
        {{ arguments | join(",\n        ") }}
        )
{%- endmacro %}

{#- get_intervals_between: the number of `datepart` steps from start_date
    to end_date, asked of the warehouse at compile time (1 when the query
    yields nothing, e.g. when not executing). -#}
{% macro get_intervals_between(start_date, end_date, datepart) -%}
{{ return(adapter.dispatch('get_intervals_between', 'dbt')(start_date, end_date, datepart)) }}
{%- endmacro %}

{% macro default__get_intervals_between(start_date, end_date, datepart) -%}
{%- call statement('get_intervals_between', fetch_result=True) -%}
    select {{ dbt.datediff(start_date, end_date, datepart) }}
{%- endcall -%}
{%- set fetched = load_result('get_intervals_between') -%}
{%- if fetched and fetched['data'] -%}
    {{- return(fetched['data'][0][0]) -}}
{%- endif -%}
{{- return(1) -}}
{%- endmacro %}

{#- date_spine: one row per `datepart` from start_date (inclusive) up to
    end_date, in a column named date_<datepart>. The rows come from
    generate_series, numbered from 0, each turned into a date with dateadd;
    periods past end_date are filtered away. Example:
        dbt.date_spine("day", "cast('2024-01-01' as date)", "current_date") -#}
{% macro date_spine(datepart, start_date, end_date) -%}
{{ return(adapter.dispatch('date_spine', 'dbt')(datepart, start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_spine(datepart, start_date, end_date) -%}
{%- set period_count = dbt.get_intervals_between(start_date, end_date, datepart) -%}
{%- set numbered_rows = dbt.generate_series(period_count) -%}
{%- set period_start = dbt.dateadd(datepart, "row_number() over (order by 1) - 1", start_date) -%}
{%- set column = "date_" ~ datepart -%}
{{ "\n\n\n    \n\n\n" }}    with rawdata as (

        {{ numbered_rows }}

    ),

    all_periods as (

        select (
            {{ period_start }}
        ) as {{ column }}
        from rawdata

    ),

    filtered as (

        select *
        from all_periods
        where {{ column }} <= {{ end_date }}

    )

    select * from filtered
{{ "\n" }}
{%- endmacro %}


{#- ---- Comparisons and set operators ---------------------------------- -#}

{#- equals: `expr1 = expr2`, or, under the behaviour flag
    enable_truthy_nulls_equals_macro, an equality in which two nulls also
    count as equal. -#}
{% macro equals(expr1, expr2) -%}
{{ return(adapter.dispatch('equals', 'dbt')(expr1, expr2)) }}
{%- endmacro %}

{% macro default__equals(expr1, expr2) -%}
{%- if adapter.behavior.enable_truthy_nulls_equals_macro.no_warn -%}
{%- set both_null = "(" ~ expr1 ~ " is null and " ~ expr2 ~ " is null)" -%}
{{ "\n" }}    case when (({{ expr1 }} = {{ expr2 }}) or {{ both_null }})
        then 0
        else 1
    end = 0
{% else -%}
({{ expr1 }} = {{ expr2 }})
{% endif -%}
{%- endmacro %}

{#- except / intersect: the set-operator keywords, for adapters that spell
    them differently (e.g. `except distinct`). -#}
{% macro except() -%}
{{ return(adapter.dispatch('except', 'dbt')()) }}
{%- endmacro %}

{% macro default__except() -%}
{{ "\n\n    except\n\n" }}
{%- endmacro %}

{% macro intersect() -%}
{{ return(adapter.dispatch('intersect', 'dbt')()) }}
{%- endmacro %}

{% macro default__intersect() -%}
{{ "\n\n    intersect\n\n" }}
{%- endmacro %}


{#- ---- Number series -------------------------------------------------- -#}

{#- get_powers_of_two: the fewest bits (at least 1) whose combinations
    count up to `upper_bound`, i.e. the smallest k with 2^k >= upper_bound. -#}
{% macro get_powers_of_two(upper_bound) -%}
{{ return(adapter.dispatch('get_powers_of_two', 'dbt')(upper_bound)) }}
{%- endmacro %}

{% macro default__get_powers_of_two(upper_bound) -%}
{%- if upper_bound <= 0 -%}
    {{- exceptions.raise_compiler_error("upper bound must be positive") -}}
{%- endif -%}
{%- for bits in range(1, 100) if upper_bound <= 2 ** bits -%}
    {%- if loop.first -%}{{- return(bits) -}}{%- endif -%}
{%- endfor -%}
{%- endmacro %}

{#- generate_series: a query yielding the integers 1..upper_bound in a
    column generated_number, without relying on a series function: a
    two-row table (0 and 1) cross-joined with itself once per bit, each
    combination read as a binary number. -#}
{% macro generate_series(upper_bound) -%}
{{ return(adapter.dispatch('generate_series', 'dbt')(upper_bound)) }}
{%- endmacro %}

{% macro default__generate_series(upper_bound) -%}
{%- set bit_count = dbt.get_powers_of_two(upper_bound) -%}
{%- set line = "\n    " -%}
{%- set weighted_bits -%}
    {%- for bit in range(bit_count) -%}
        {{- (line ~ " + " ~ line ~ line) if not loop.first else "" -}}
        p{{ bit }}.generated_number * power(2, {{ bit }})
    {%- endfor -%}
{%- endset -%}
{%- set bit_tables -%}
    {%- for bit in range(bit_count) -%}
        {{- (line ~ " cross join " ~ line ~ line) if not loop.first else "" -}}
        p as p{{ bit }}
    {%- endfor -%}
{%- endset -%}
{{ "\n\n    \n\n" }}    with p as (
        select 0 as generated_number union all select 1
    ), unioned as (

    select
{{ line ~ line ~ weighted_bits ~ line ~ line ~ line }}+ 1
    as generated_number

    from
{{ line ~ line ~ bit_tables ~ line ~ line ~ "\n" }}
    )

    select *
    from unioned
    where generated_number <= {{ upper_bound }}
    order by generated_number
{{ "\n" }}
{%- endmacro %}

{#- ====================================================================
    (split point: the macros above and below are rewritten separately)
    ==================================================================== -#}

{#- from dbt-core: macros/utils/last_day.sql -#}
{% macro last_day(date, datepart) %}
  {{ return(adapter.dispatch('last_day', 'dbt') (date, datepart)) }}
{% endmacro %}

{%- macro default_last_day(date, datepart) -%}
    cast(
        {{dbt.dateadd('day', '-1',
        dbt.dateadd(datepart, '1', dbt.date_trunc(datepart, date))
        )}}
        as date)
{%- endmacro -%}

{% macro default__last_day(date, datepart) -%}
    {{dbt.default_last_day(date, datepart)}}
{%- endmacro %}

{#- from dbt-core: macros/utils/length.sql -#}
{% macro length(expression) -%}
    {{ return(adapter.dispatch('length', 'dbt') (expression)) }}
{% endmacro %}

{% macro default__length(expression) %}

    length(
        {{ expression }}
    )

{%- endmacro -%}

{#- from dbt-core: macros/utils/listagg.sql -#}
{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}
    {{ return(adapter.dispatch('listagg', 'dbt') (measure, delimiter_text, order_by_clause, limit_num)) }}
{%- endmacro %}

{% macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}

    {% if limit_num -%}
    array_to_string(
        array_slice(
            array_agg(
                {{ measure }}
            ){% if order_by_clause -%}
            within group ({{ order_by_clause }})
            {%- endif %}
            ,0
            ,{{ limit_num }}
        ),
        {{ delimiter_text }}
        )
    {%- else %}
    listagg(
        {{ measure }},
        {{ delimiter_text }}
        )
        {% if order_by_clause -%}
        within group ({{ order_by_clause }})
        {%- endif %}
    {%- endif %}

{%- endmacro %}

{#- from dbt-core: macros/utils/literal.sql -#}
{%- macro string_literal(value) -%}
  {{ return(adapter.dispatch('string_literal', 'dbt') (value)) }}
{%- endmacro -%}

{% macro default__string_literal(value) -%}
    '{{ value }}'
{%- endmacro %}

{#- from dbt-core: macros/utils/position.sql -#}
{% macro position(substring_text, string_text) -%}
    {{ return(adapter.dispatch('position', 'dbt') (substring_text, string_text)) }}
{% endmacro %}

{% macro default__position(substring_text, string_text) %}

    position(
        {{ substring_text }} in {{ string_text }}
    )

{%- endmacro -%}

{#- from dbt-core: macros/utils/replace.sql -#}
{% macro replace(field, old_chars, new_chars) -%}
    {{ return(adapter.dispatch('replace', 'dbt') (field, old_chars, new_chars)) }}
{% endmacro %}

{% macro default__replace(field, old_chars, new_chars) %}

    replace(
        {{ field }},
        {{ old_chars }},
        {{ new_chars }}
    )


{% endmacro %}

{#- from dbt-core: macros/utils/right.sql -#}
{% macro right(string_text, length_expression) -%}
    {{ return(adapter.dispatch('right', 'dbt') (string_text, length_expression)) }}
{% endmacro %}

{% macro default__right(string_text, length_expression) %}

    right(
        {{ string_text }},
        {{ length_expression }}
    )

{%- endmacro -%}

{#- from dbt-core: macros/utils/safe_cast.sql -#}
{% macro safe_cast(field, type) %}
  {{ return(adapter.dispatch('safe_cast', 'dbt') (field, type)) }}
{% endmacro %}

{% macro default__safe_cast(field, type) %}
    {# most databases don't support this function yet
    so we just need to use cast #}
    cast({{field}} as {{type}})
{% endmacro %}

{#- from dbt-core: macros/utils/split_part.sql -#}
{% macro split_part(string_text, delimiter_text, part_number) %}
  {{ return(adapter.dispatch('split_part', 'dbt') (string_text, delimiter_text, part_number)) }}
{% endmacro %}

{% macro default__split_part(string_text, delimiter_text, part_number) %}

    split_part(
        {{ string_text }},
        {{ delimiter_text }},
        {{ part_number }}
        )

{% endmacro %}

{% macro _split_part_negative(string_text, delimiter_text, part_number) %}

    split_part(
        {{ string_text }},
        {{ delimiter_text }},
          length({{ string_text }})
          - length(
              replace({{ string_text }},  {{ delimiter_text }}, '')
          ) + 2 + {{ part_number }}
        )

{% endmacro %}

{#- from dbt-core: macros/adapters/timestamps.sql -#}
{%- macro current_timestamp() -%}
    {{ adapter.dispatch('current_timestamp', 'dbt')() }}
{%- endmacro -%}

{% macro default__current_timestamp() -%}
  {{ exceptions.raise_not_implemented(
    'current_timestamp macro not implemented for adapter ' + adapter.type()) }}
{%- endmacro %}

{#- the scd id expression a snapshot strategy returns (custom strategies call
    it); the same text as the built-in strategies' (sql/snapshot.sql hash_args) -#}
{% macro snapshot_hash_arguments(args) -%}
    {{ adapter.dispatch('snapshot_hash_arguments', 'dbt')(args) }}
{%- endmacro %}

{% macro default__snapshot_hash_arguments(args) -%}
    md5({%- for arg in args -%}
        coalesce(cast({{ arg }} as varchar ), '')
        {% if not loop.last %} || '|' || {% endif %}
    {%- endfor -%})
{%- endmacro %}

{%- macro snapshot_get_time() -%}
    {{ adapter.dispatch('snapshot_get_time', 'dbt')() }}
{%- endmacro -%}

{% macro default__snapshot_get_time() %}
    {{ current_timestamp() }}
{% endmacro %}

{% macro get_snapshot_get_time_data_type() %}
    {% set snapshot_time = adapter.dispatch('snapshot_get_time', 'dbt')() %}
    {% set time_data_type_sql = 'select ' ~ snapshot_time ~ ' as dbt_snapshot_time' %}
    {% set snapshot_time_column_schema = get_column_schema_from_query(time_data_type_sql) %}
    {% set time_data_type = snapshot_time_column_schema[0].dtype %}
    {{ return(time_data_type or none) }}
{% endmacro %}

{% macro current_timestamp_backcompat() %}
    {{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}
{% endmacro %}

{% macro default__current_timestamp_backcompat() %}
    current_timestamp::timestamp
{% endmacro %}

{% macro current_timestamp_in_utc_backcompat() %}
    {{ return(adapter.dispatch('current_timestamp_in_utc_backcompat', 'dbt')()) }}
{% endmacro %}

{% macro default__current_timestamp_in_utc_backcompat() %}
    {{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}
{% endmacro %}

{#- from dbt-core: macros/get_custom_name/get_custom_alias.sql -#}
{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
    {% do return(adapter.dispatch('generate_alias_name', 'dbt')(custom_alias_name, node)) %}
{%- endmacro %}

{% macro default__generate_alias_name(custom_alias_name=none, node=none) -%}

    {%- if custom_alias_name -%}

        {{ custom_alias_name | trim }}

    {%- elif node.version -%}

        {{ return(node.name ~ "_v" ~ (node.version | replace(".", "_"))) }}

    {%- else -%}

        {{ node.name }}

    {%- endif -%}

{%- endmacro %}

{#- from dbt-core: macros/get_custom_name/get_custom_database.sql -#}
{% macro generate_database_name(custom_database_name=none, node=none) -%}
    {% do return(adapter.dispatch('generate_database_name', 'dbt')(custom_database_name, node)) %}
{%- endmacro %}

{% macro default__generate_database_name(custom_database_name=none, node=none) -%}
    {%- set default_database = target.database -%}
    {%- if node is not none and node|attr('database') -%}
        {%- set catalog_relation = adapter.build_catalog_relation(node) -%}
        {%- if catalog_relation and catalog_relation|attr('catalog_database') -%}
            {{ return(catalog_relation.catalog_database) }}
        {%- endif -%}
    {%- endif -%}
    {%- if custom_database_name is none -%}

        {{ default_database }}

    {%- else -%}

        {{ custom_database_name }}

    {%- endif -%}

{%- endmacro %}

{#- from dbt-core: macros/get_custom_name/get_custom_schema.sql -#}
{% macro generate_schema_name(custom_schema_name=none, node=none) -%}
    {{ return(adapter.dispatch('generate_schema_name', 'dbt')(custom_schema_name, node)) }}
{% endmacro %}

{% macro default__generate_schema_name(custom_schema_name, node) -%}

    {%- set default_schema = target.schema -%}
    {%- if custom_schema_name is none -%}

        {{ default_schema }}

    {%- else -%}

        {{ default_schema }}_{{ custom_schema_name | trim }}

    {%- endif -%}

{%- endmacro %}

{% macro generate_schema_name_for_env(custom_schema_name, node) -%}

    {%- set default_schema = target.schema -%}
    {%- if target.name == 'prod' and custom_schema_name is not none -%}

        {{ custom_schema_name | trim }}

    {%- else -%}

        {{ default_schema }}

    {%- endif -%}

{%- endmacro %}

{#- from dbt-core: macros/get_custom_name/get_latest_version_pointer_alias.sql -#}
{% macro generate_latest_version_pointer_alias(custom_alias_name=none, node=none) %}
            {{ node.name ~ "_latest" }}
        {% endmacro %}

{% macro generate_latest_version_pointer_alias(custom_alias_name=none, node=none) -%}
    {% do return(adapter.dispatch('generate_latest_version_pointer_alias', 'dbt')(custom_alias_name, node)) %}
{%- endmacro %}

{% macro default__generate_latest_version_pointer_alias(custom_alias_name=none, node=none) -%}
    {%- if custom_alias_name -%}
        {{ custom_alias_name | trim }}
    {%- else -%}
        {{ node.name }}
    {%- endif -%}
{%- endmacro %}

{#- from dbt-duckdb: macros/utils/any_value.sql -#}
{% macro duckdb__any_value(expression) -%}

    arbitrary({{ expression }})

{%- endmacro %}

{#- from dbt-duckdb: macros/utils/dateadd.sql -#}
{% macro duckdb__dateadd(datepart, interval, from_date_or_timestamp) %}

    {#
      Support both literal and expression intervals (e.g., column references)
      by multiplying an INTERVAL by the value. This avoids DuckDB parser issues
      with "interval (<expr>) <unit>" and works across versions.

      Also map unsupported units:
      - quarter => 3 months
      - week    => 7 days (DuckDB supports WEEK as a literal, but keep it explicit)
    #}

    {%- set unit = datepart | lower -%}
    {%- if unit == 'quarter' -%}
        ({{ from_date_or_timestamp }} + (cast({{ interval }} as bigint) * 3) * interval 1 month)
    {%- elif unit == 'week' -%}
        ({{ from_date_or_timestamp }} + (cast({{ interval }} as bigint) * 7) * interval 1 day)
    {%- else -%}
        ({{ from_date_or_timestamp }} + cast({{ interval }} as bigint) * interval 1 {{ unit }})
    {%- endif -%}

{% endmacro %}

{#- from dbt-duckdb: macros/utils/datediff.sql -#}
{% macro duckdb__datediff(first_date, second_date, datepart) -%}
    {% if datepart == 'week' %}
            ({{ datediff(first_date, second_date, 'day') }} // 7 + case
            when date_part('dow', ({{first_date}})::timestamp) <= date_part('dow', ({{second_date}})::timestamp) then
                case when {{first_date}} <= {{second_date}} then 0 else -1 end
            else
                case when {{first_date}} <= {{second_date}} then 1 else 0 end
        end)
    {% else %}
        (date_diff('{{ datepart }}', {{ first_date }}::timestamp, {{ second_date}}::timestamp ))
    {% endif %}
{%- endmacro %}

{#- from dbt-duckdb: macros/utils/lastday.sql -#}
{% macro duckdb__last_day(date, datepart) -%}

    {%- if datepart == 'quarter' -%}
    -- duckdb dateadd does not support quarter interval.
    cast(
        {{dbt.dateadd('day', '-1',
        dbt.dateadd('month', '3', dbt.date_trunc(datepart, date))
        )}}
        as date)
    {%- else -%}
    {{dbt.default_last_day(date, datepart)}}
    {%- endif -%}

{%- endmacro %}

{#- from dbt-duckdb: macros/utils/listagg.sql -#}
{% macro duckdb__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {% if limit_num -%}
    list_aggr(
        (array_agg(
            {{ measure }}
            {% if order_by_clause -%}
            {{ order_by_clause }}
            {%- endif %}
        ))[1:{{ limit_num }}],
        'string_agg',
        {{ delimiter_text }}
        )
    {%- else %}
    string_agg(
        {{ measure }},
        {{ delimiter_text }}
        {% if order_by_clause -%}
        {{ order_by_clause }}
        {%- endif %}
        )
    {%- endif %}
{%- endmacro %}

{#- from dbt-duckdb: macros/utils/splitpart.sql -#}
{% macro duckdb__split_part(string_text, delimiter_text, part_number) %}
    string_split({{ string_text }}, {{ delimiter_text }})[ {{ part_number }} ]
{% endmacro %}

{% macro duckdb__current_timestamp() -%}
  now()
{%- endmacro %}

{% macro duckdb__snapshot_string_as_time(timestamp) -%}
    {%- set result = "'" ~ timestamp ~ "'::timestamp" -%}
    {{ return(result) }}
{%- endmacro %}

{% macro duckdb__snapshot_get_time() -%}
  {{ current_timestamp() }}::timestamp
{%- endmacro %}


{#- Helpers of dbt-core's materializations (macros/materializations,
    macros/adapters, macros/relations), for custom `{% materialization %}`
    blocks; simplified to DuckDB, where each statement commits on its own. -#}

{% macro run_hooks(hooks, inside_transaction=True) %}
  {% for hook in hooks %}
    {% if hook.transaction == inside_transaction and (hook.sql | trim | length) > 0 %}
      {% call statement('__dbt_hook') %}{{ hook.sql }}{% endcall %}
    {% endif %}
  {% endfor %}
{% endmacro %}

{% macro load_relation(relation) %}
  {{ return(adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier)) }}
{% endmacro %}

{% macro load_cached_relation(relation) %}
  {{ return(load_relation(relation)) }}
{% endmacro %}

{% macro make_temp_relation(base_relation, suffix='__dbt_tmp') %}
  {{ return(api.Relation.create(database=base_relation.database, schema=base_relation.schema, identifier=base_relation.identifier ~ suffix)) }}
{% endmacro %}

{% macro make_intermediate_relation(base_relation, suffix='__dbt_tmp') %}
  {{ return(make_temp_relation(base_relation, suffix)) }}
{% endmacro %}

{% macro make_backup_relation(base_relation, backup_relation_type, suffix='__dbt_backup') %}
  {{ return(api.Relation.create(database=base_relation.database, schema=base_relation.schema, identifier=base_relation.identifier ~ suffix, type=backup_relation_type)) }}
{% endmacro %}

{% macro drop_relation_if_exists(relation) %}
  {% if relation is not none %}{{ adapter.drop_relation(relation) }}{% endif %}
{% endmacro %}

{% macro create_table_as(temporary, relation, compiled_code, language='sql') %}
  create {% if temporary %}temporary table {{ relation.include(database=False, schema=False) }}{% else %}table {{ relation }}{% endif %} as (
    {{ compiled_code }}
  );
{% endmacro %}

{% macro get_create_table_as_sql(temporary, relation, sql) %}
  {{ return(create_table_as(temporary, relation, sql)) }}
{% endmacro %}

{% macro create_view_as(relation, sql) %}
  create view {{ relation }} as (
    {{ sql }}
  );
{% endmacro %}

{% macro get_create_view_as_sql(relation, sql) %}
  {{ return(create_view_as(relation, sql)) }}
{% endmacro %}
