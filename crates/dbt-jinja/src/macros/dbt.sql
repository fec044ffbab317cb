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



{#- Part two: string, date and time helpers, relation naming, and what
    custom materializations need.

    Conventions of this part:
    - a public macro only forwards to `adapter.dispatch(name, 'dbt')`, so a
      project's or package's `duckdb__name` / `default__name` replaces ours;
    - the implementations build their SQL as strings and `return` it, so
      the exact whitespace (which compiled-SQL comparisons with dbt see)
      is spelled out instead of falling out of the template's layout. -#}

{#- `name(` with each argument on its own line and the closing paren
    indented by `close_indent`: the shape dbt's default implementations
    give these calls in compiled SQL. `tail` is what follows the paren. -#}
{% macro _tarmac_multiline_call(function, arguments, close_indent=4, tail='') %}
  {%- set pad = '\n        ' -%}
  {{- return('\n\n    ' ~ function ~ '(' ~ pad ~ arguments | join(',' ~ pad) ~ '\n' ~ (' ' * close_indent) ~ ')' ~ tail) -}}
{% endmacro %}

{# ---- strings ---------------------------------------------------------- #}

{% macro length(expression) %}{{ return(adapter.dispatch('length', 'dbt')(expression)) }}{% endmacro %}
{% macro default__length(expression) %}{{ return(dbt._tarmac_multiline_call('length', [expression])) }}{% endmacro %}

{% macro position(substring_text, string_text) %}{{ return(adapter.dispatch('position', 'dbt')(substring_text, string_text)) }}{% endmacro %}
{%- macro default__position(substring_text, string_text) -%}
  {#- SQL standard `position(needle in haystack)`: one argument to the call -#}
  {{- return(dbt._tarmac_multiline_call('position', [substring_text ~ ' in ' ~ string_text])) -}}
{%- endmacro %}

{% macro replace(field, old_chars, new_chars) %}{{ return(adapter.dispatch('replace', 'dbt')(field, old_chars, new_chars)) }}{% endmacro %}
{% macro default__replace(field, old_chars, new_chars) %}{{ return(dbt._tarmac_multiline_call('replace', [field, old_chars, new_chars], tail='\n\n\n')) }}{% endmacro %}

{% macro right(string_text, length_expression) %}{{ return(adapter.dispatch('right', 'dbt')(string_text, length_expression)) }}{% endmacro %}
{% macro default__right(string_text, length_expression) %}{{ return(dbt._tarmac_multiline_call('right', [string_text, length_expression])) }}{% endmacro %}

{#- the value between single quotes, as given (no escaping: callers that
    need it use escape_single_quotes first) -#}
{% macro string_literal(value) %}{{ return(adapter.dispatch('string_literal', 'dbt')(value)) }}{% endmacro %}
{% macro default__string_literal(value) %}{{ return("'" ~ value ~ "'") }}{% endmacro %}

{#- A plain cast by default: try_cast is not common to every warehouse. -#}
{% macro safe_cast(field, type) %}{{ return(adapter.dispatch('safe_cast', 'dbt')(field, type)) }}{% endmacro %}
{% macro default__safe_cast(field, type) %}{{ return('\n    \n    cast(' ~ field ~ ' as ' ~ type ~ ')\n') }}{% endmacro %}

{#- split_part: the 1-based `part_number`-th piece of the string. On DuckDB
    it is a list index into string_split, which also counts from the end
    for a negative number. -#}
{% macro split_part(string_text, delimiter_text, part_number) %}{{ return(adapter.dispatch('split_part', 'dbt')(string_text, delimiter_text, part_number)) }}{% endmacro %}
{% macro default__split_part(string_text, delimiter_text, part_number) %}{{ return(dbt._tarmac_multiline_call('split_part', [string_text, delimiter_text, part_number], close_indent=8, tail='\n\n')) }}{% endmacro %}
{% macro duckdb__split_part(string_text, delimiter_text, part_number) %}{{ return('\n    string_split(' ~ string_text ~ ', ' ~ delimiter_text ~ ')[ ' ~ part_number ~ ' ]\n') }}{% endmacro %}

{#- For warehouses whose split_part cannot count from the end: the number of
    pieces is the count of delimiters (removed length) plus one, so a
    negative part maps to pieces + 1 + part. -#}
{% macro _split_part_negative(string_text, delimiter_text, part_number) %}
  {%- set piece_from_end = '  length(' ~ string_text ~ ')'
      ~ '\n          - length(\n              replace(' ~ string_text ~ ',  ' ~ delimiter_text ~ ", '')"
      ~ '\n          ) + 2 + ' ~ part_number -%}
  {{- return(dbt._tarmac_multiline_call('split_part', [string_text, delimiter_text, piece_from_end], close_indent=8, tail='\n\n')) -}}
{% endmacro %}

{#- listagg: the measure's values joined by `delimiter_text` (a SQL string
    literal), optionally ordered (`order_by_clause`, e.g. "order by x") and
    limited to the first `limit_num` values. -#}
{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) %}
  {{- return(adapter.dispatch('listagg', 'dbt')(measure, delimiter_text, order_by_clause, limit_num)) -}}
{% endmacro %}

{#- The ANSI form, `listagg(...) within group (order by ...)`; with a limit,
    an array of the values cut to its first entries. -#}
{% macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) %}
  {%- set within = ('within group (' ~ order_by_clause ~ ')') if order_by_clause else '' -%}
  {%- if limit_num -%}
    {%- set sql = 'array_to_string(\n        array_slice(\n            array_agg(\n                ' ~ measure
        ~ '\n            )' ~ within ~ '\n            ,0\n            ,' ~ limit_num
        ~ '\n        ),\n        ' ~ delimiter_text ~ '\n        )' -%}
  {%- else -%}
    {%- set sql = '\n    listagg(\n        ' ~ measure ~ ',\n        ' ~ delimiter_text
        ~ '\n        )\n        ' ~ within -%}
  {%- endif -%}
  {{- return(sql) -}}
{% endmacro %}

{#- DuckDB: the ORDER BY goes inside string_agg / array_agg; with a limit,
    the ordered list is sliced and its items joined by list_aggr. -#}
{% macro duckdb__listagg(measure, delimiter_text, order_by_clause, limit_num) %}
  {%- set ordering = order_by_clause or '' -%}
  {%- if limit_num -%}
    {%- set sql = 'list_aggr(\n        (array_agg(\n            ' ~ measure ~ '\n            ' ~ ordering
        ~ '\n        ))[1:' ~ limit_num ~ "],\n        'string_agg',\n        " ~ delimiter_text ~ '\n        )' -%}
  {%- else -%}
    {%- set sql = '\n    string_agg(\n        ' ~ measure ~ ',\n        ' ~ delimiter_text
        ~ '\n        ' ~ ordering ~ '\n        )' -%}
  {%- endif -%}
  {{- return(sql) -}}
{% endmacro %}

{# ---- aggregates ------------------------------------------------------- #}

{#- any_value: DuckDB's name for "some value of the group" -#}
{% macro duckdb__any_value(expression) %}{{ return('arbitrary(' ~ expression ~ ')') }}{% endmacro %}

{# ---- dates ------------------------------------------------------------ #}

{#- DuckDB date arithmetic: the amount times a one-unit interval, which
    takes a column or expression as well as a literal (`interval (x) day`
    does not parse). DuckDB has no quarter interval and week is spelled out
    as days, so those two scale a month / a day. -#}
{% macro duckdb__dateadd(datepart, interval, from_date_or_timestamp) %}
  {%- set unit = datepart | lower -%}
  {%- set scaled_units = {'quarter': [3, 'month'], 'week': [7, 'day']} -%}
  {%- set amount = 'cast(' ~ interval ~ ' as bigint)' -%}
  {%- if unit in scaled_units -%}
    {%- set step = '(' ~ amount ~ ' * ' ~ scaled_units[unit][0] ~ ') * interval 1 ' ~ scaled_units[unit][1] -%}
  {%- else -%}
    {%- set step = amount ~ ' * interval 1 ' ~ unit -%}
  {%- endif -%}
  {{- return('\n\n    (' ~ from_date_or_timestamp ~ ' + ' ~ step ~ ')') -}}
{% endmacro %}

{#- DuckDB's date_diff counts boundaries crossed, except for weeks, where
    it counts whole 7-day spans; dbt's datediff counts week boundaries, so
    the week case takes whole weeks of days and adds one when the
    remainder crosses a week start (comparing days of the week). -#}
{% macro duckdb__datediff(first_date, second_date, datepart) %}
  {%- if datepart == 'week' -%}
    {%- set forward = first_date ~ ' <= ' ~ second_date -%}
    {%- set sql = '\n            (' ~ datediff(first_date, second_date, 'day') ~ ' // 7 + case'
        ~ "\n            when date_part('dow', (" ~ first_date ~ ")::timestamp) <= date_part('dow', (" ~ second_date ~ ')::timestamp) then'
        ~ '\n                case when ' ~ forward ~ ' then 0 else -1 end'
        ~ '\n            else'
        ~ '\n                case when ' ~ forward ~ ' then 1 else 0 end'
        ~ '\n        end)\n    ' -%}
  {%- else -%}
    {%- set sql = "\n        (date_diff('" ~ datepart ~ "', " ~ first_date ~ '::timestamp, ' ~ second_date ~ '::timestamp ))\n    ' -%}
  {%- endif -%}
  {{- return(sql) -}}
{% endmacro %}

{#- last_day: the last date of the `datepart` period holding `date`: the
    period's start, one period on, one day back. -#}
{% macro last_day(date, datepart) %}{{ return(adapter.dispatch('last_day', 'dbt')(date, datepart)) }}{% endmacro %}
{% macro default__last_day(date, datepart) %}{{ return(dbt.default_last_day(date, datepart)) }}{% endmacro %}

{#- the generic computation, kept callable on its own for adapters that
    special-case some dateparts and fall back to it for the rest -#}
{% macro default_last_day(date, datepart) %}{{ return(dbt._tarmac_period_end(date, datepart, datepart, '1')) }}{% endmacro %}

{#- `date`'s `datepart` period's start, `step_count` `step_unit`s on, one day
    back, as a date; `prefix` goes before the cast -#}
{% macro _tarmac_period_end(date, datepart, step_unit, step_count, prefix='') %}
  {%- set next_start = dbt.dateadd(step_unit, step_count, dbt.date_trunc(datepart, date)) -%}
  {{- return(prefix ~ 'cast(\n        ' ~ dbt.dateadd('day', '-1', next_start) ~ '\n        as date)') -}}
{% endmacro %}

{#- DuckDB: a quarter is stepped as three months (the SQL comment is part
    of the compiled text dbt-duckdb emits; kept for identical output). -#}
{% macro duckdb__last_day(date, datepart) %}
  {%- if datepart == 'quarter' -%}
    {{- return(dbt._tarmac_period_end(date, datepart, 'month', '3', prefix='-- duckdb dateadd does not support quarter interval.\n    ')) -}}
  {%- endif -%}
  {{- return(dbt.default_last_day(date, datepart)) -}}
{% endmacro %}

{# ---- current time and snapshot timestamps ---------------------------- #}

{% macro current_timestamp() %}{{ return(adapter.dispatch('current_timestamp', 'dbt')()) }}{% endmacro %}
{% macro default__current_timestamp() %}
  {{- exceptions.raise_not_implemented('current_timestamp macro not implemented for adapter ' + adapter.type()) -}}
{% endmacro %}
{% macro duckdb__current_timestamp() %}{{ return('now()') }}{% endmacro %}

{#- The pre-1.x names, still called by older packages: a timestamp without
    time zone. -#}
{% macro current_timestamp_backcompat() %}{{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}{% endmacro %}
{% macro default__current_timestamp_backcompat() %}{{ return('\n    current_timestamp::timestamp\n') }}{% endmacro %}
{% macro current_timestamp_in_utc_backcompat() %}{{ return(adapter.dispatch('current_timestamp_in_utc_backcompat', 'dbt')()) }}{% endmacro %}
{% macro default__current_timestamp_in_utc_backcompat() %}{{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}{% endmacro %}

{#- The snapshot's notion of "now" (dbt_valid_from / dbt_updated_at of
    check-strategy rows), a plain timestamp on DuckDB. Bare
    `current_timestamp()` so a project's own override is the one used. -#}
{% macro snapshot_get_time() %}{{ return(adapter.dispatch('snapshot_get_time', 'dbt')()) }}{% endmacro %}
{% macro default__snapshot_get_time() %}{{ return('\n    ' ~ current_timestamp() ~ '\n') }}{% endmacro %}
{% macro duckdb__snapshot_get_time() %}{{ return(current_timestamp() ~ '::timestamp') }}{% endmacro %}

{% macro duckdb__snapshot_string_as_time(timestamp) %}{{ return("'" ~ timestamp ~ "'::timestamp") }}{% endmacro %}

{#- the column type snapshot_get_time yields, asked of the warehouse (none
    when it cannot say) -#}
{% macro get_snapshot_get_time_data_type() %}
  {%- set now_sql = adapter.dispatch('snapshot_get_time', 'dbt')() -%}
  {%- set columns = get_column_schema_from_query('select ' ~ now_sql ~ ' as dbt_snapshot_time') -%}
  {{- return(columns[0].dtype or none) -}}
{% endmacro %}

{#- the scd id expression a snapshot strategy returns (custom strategies call
    it): md5 of the arguments as text, '|'-separated, null as empty; the same
    text as the built-in strategies' (snapshot.rs, scd_hash) -#}
{% macro snapshot_hash_arguments(args) %}{{ return(adapter.dispatch('snapshot_hash_arguments', 'dbt')(args)) }}{% endmacro %}
{% macro default__snapshot_hash_arguments(args) %}
  {%- set texts = [] -%}
  {%- for a in args -%}{%- do texts.append('coalesce(cast(' ~ a ~ " as varchar ), '')") -%}{%- endfor -%}
  {{- return('md5(' ~ texts | join("\n         || '|' || ") ~ '\n        )') -}}
{% endmacro %}

{# ---- relation names ---------------------------------------------------
   https://docs.getdbt.com/docs/build/custom-schemas (and -aliases,
   -databases). A project overrides `generate_x_name` or `default__…`; the
   engine calls the project's macro when there is one and computes these
   defaults natively otherwise (manifest.rs resolve_names), so the two must
   agree. #}

{#- schema: the target's schema, suffixed `_<custom>` when the node sets one -#}
{% macro generate_schema_name(custom_schema_name=none, node=none) %}{{ return(adapter.dispatch('generate_schema_name', 'dbt')(custom_schema_name, node)) }}{% endmacro %}
{% macro default__generate_schema_name(custom_schema_name, node) %}
  {%- if custom_schema_name is none -%}{{ return(target.schema) }}{%- endif -%}
  {{- return(target.schema ~ '_' ~ (custom_schema_name | trim)) -}}
{% endmacro %}

{#- the documented alternative: custom schemas as given in the `prod`
    target, the target's schema everywhere else -#}
{% macro generate_schema_name_for_env(custom_schema_name, node) %}
  {%- set use_custom = target.name == 'prod' and custom_schema_name is not none -%}
  {{- return((custom_schema_name | trim) if use_custom else target.schema) -}}
{% endmacro %}

{#- alias: the custom alias, else the model name, `_v<version>` appended
    (dots as underscores) for a versioned model -#}
{% macro generate_alias_name(custom_alias_name=none, node=none) %}{{ return(adapter.dispatch('generate_alias_name', 'dbt')(custom_alias_name, node)) }}{% endmacro %}
{% macro default__generate_alias_name(custom_alias_name=none, node=none) %}
  {%- if custom_alias_name -%}{{ return(custom_alias_name | trim) }}{%- endif -%}
  {%- if node.version -%}{{ return(node.name ~ '_v' ~ (node.version | replace('.', '_'))) }}{%- endif -%}
  {{- return(node.name) -}}
{% endmacro %}

{#- database: a catalog integration's database when the node has one, else
    the custom database, else the target's -#}
{% macro generate_database_name(custom_database_name=none, node=none) %}{{ return(adapter.dispatch('generate_database_name', 'dbt')(custom_database_name, node)) }}{% endmacro %}
{% macro default__generate_database_name(custom_database_name=none, node=none) %}
  {%- if node is not none and node | attr('database') -%}
    {%- set in_catalog = adapter.build_catalog_relation(node) -%}
    {%- if in_catalog and in_catalog | attr('catalog_database') -%}{{ return(in_catalog.catalog_database) }}{%- endif -%}
  {%- endif -%}
  {{- return(target.database if custom_database_name is none else custom_database_name) -}}
{% endmacro %}

{#- the alias of the view pointing at a versioned model's latest version:
    the custom alias, else the model name -#}
{% macro generate_latest_version_pointer_alias(custom_alias_name=none, node=none) %}{{ return(adapter.dispatch('generate_latest_version_pointer_alias', 'dbt')(custom_alias_name, node)) }}{% endmacro %}
{% macro default__generate_latest_version_pointer_alias(custom_alias_name=none, node=none) %}
  {{- return((custom_alias_name | trim) if custom_alias_name else node.name) -}}
{% endmacro %}

{# ---- for custom materializations --------------------------------------
   What a project's `{% materialization %}` block calls to find, name,
   create and drop relations. DuckDB commits each statement on its own, so
   nothing here opens or commits a transaction. #}

{#- the hooks of one phase: those marked for inside (or outside) the
    transaction, skipping empty ones -#}
{% macro run_hooks(hooks, inside_transaction=True) %}
  {%- for hook in hooks if hook.transaction == inside_transaction -%}
    {%- if hook.sql | trim | length > 0 -%}
      {%- call statement('__dbt_hook') -%}{{ hook.sql }}{%- endcall -%}
    {%- endif -%}
  {%- endfor -%}
{% endmacro %}

{#- the relation as it exists in the warehouse (none when absent); the
    engine keeps no separate cache, so both names look it up -#}
{% macro load_relation(relation) %}
  {{- return(adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier)) -}}
{% endmacro %}
{% macro load_cached_relation(relation) %}{{ return(load_relation(relation)) }}{% endmacro %}

{#- A sibling of `base_relation`: same database and schema, the identifier
    suffixed. Temporary and intermediate relations are the same thing here;
    a backup also records the type of what it backs up. -#}
{% macro _tarmac_sibling(base_relation, suffix, relation_type=none) %}
  {%- set named = base_relation.identifier ~ suffix -%}
  {%- if relation_type is none -%}
    {{- return(api.Relation.create(database=base_relation.database, schema=base_relation.schema, identifier=named)) -}}
  {%- endif -%}
  {{- return(api.Relation.create(database=base_relation.database, schema=base_relation.schema, identifier=named, type=relation_type)) -}}
{% endmacro %}
{% macro make_temp_relation(base_relation, suffix='__dbt_tmp') %}{{ return(dbt._tarmac_sibling(base_relation, suffix)) }}{% endmacro %}
{% macro make_intermediate_relation(base_relation, suffix='__dbt_tmp') %}{{ return(dbt._tarmac_sibling(base_relation, suffix)) }}{% endmacro %}
{% macro make_backup_relation(base_relation, backup_relation_type, suffix='__dbt_backup') %}{{ return(dbt._tarmac_sibling(base_relation, suffix, backup_relation_type)) }}{% endmacro %}

{% macro drop_relation_if_exists(relation) %}
  {%- if relation is not none -%}{{ adapter.drop_relation(relation) }}{%- endif -%}
{% endmacro %}

{#- CREATE ... AS statements. A temporary table lives in DuckDB's temp
    schema, so it is named by its identifier alone. -#}
{% macro create_table_as(temporary, relation, compiled_code, language='sql') %}
  {%- set target_name = ('temporary table ' ~ relation.include(database=False, schema=False)) if temporary else ('table ' ~ relation) -%}
  {{- return(dbt._tarmac_create_as(target_name, compiled_code)) -}}
{% endmacro %}
{% macro create_view_as(relation, sql) %}{{ return(dbt._tarmac_create_as('view ' ~ relation, sql)) }}{% endmacro %}
{% macro _tarmac_create_as(what, body) %}{{ return('\n  create ' ~ what ~ ' as (\n    ' ~ body ~ '\n  );\n') }}{% endmacro %}
{% macro get_create_table_as_sql(temporary, relation, sql) %}{{ return(create_table_as(temporary, relation, sql)) }}{% endmacro %}
{% macro get_create_view_as_sql(relation, sql) %}{{ return(create_view_as(relation, sql)) }}{% endmacro %}
