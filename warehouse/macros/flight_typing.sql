{#- Typing helpers for the FlightLabs records. They use DuckDB's core
    functions only: Tarmac links DuckDB without the ICU extension, so nothing
    here may do time-zone arithmetic on TIMESTAMPTZ (no casts of TIMESTAMPTZ
    to DATE or TIMESTAMP, no extraction of its parts). Instants are parsed
    from the offset-bearing strings the API sends; wall-clock values are
    parsed from the same strings with the offset cut off. -#}

{#- An instant (TIMESTAMPTZ) from a string that carries its offset
    (`2024-08-12 17:00Z`, `2024-08-12 12:00-05:00`); NULL when the string is
    NULL, has no offset or does not parse. -#}
{% macro flight_instant(expr) -%}
    case when regexp_matches({{ expr }}, '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\s*(Z|[+-]\d{2}:?\d{2})$')
         then try_cast({{ expr }} as timestamp with time zone) end
{%- endmacro %}

{#- The wall-clock reading (TIMESTAMP without zone) of such a string, whose
    instant `instant` parsed: `2024-08-12 12:00-05:00` -> 2024-08-12 12:00.
    DuckDB's cast of a string to TIMESTAMP drops the offset (with or without
    ICU; the unit tests hold it to that). For a UTC string it is the UTC time,
    which is what date arithmetic needs. -#}
{% macro flight_wall_clock(expr, instant) -%}
    case when {{ instant }} is not null then try_cast({{ expr }} as timestamp) end
{%- endmacro %}

{#- Whether a time string says it is UTC (`Z` or a zero offset). -#}
{% macro flight_is_utc(expr) -%}
    regexp_matches({{ expr }}, '(Z|[+-]00:?00)$')
{%- endmacro %}

{#- The statuses FlightLabs (AeroDataBox) documents; anything else is a
    typing failure. -#}
{% macro flight_statuses() -%}
    {{ return(['Unknown', 'Expected', 'EnRoute', 'CheckIn', 'Boarding', 'GateClosed', 'Departed',
               'Delayed', 'Approaching', 'Arrived', 'Canceled', 'Diverted', 'CanceledUncertain']) }}
{%- endmacro %}

{% macro flight_codeshare_statuses() -%}
    {{ return(['Unknown', 'IsOperator', 'IsCodeshared']) }}
{%- endmacro %}

{#- How far a movement has progressed: the deduplication keeps, among
    observations without a fetch time (archive files), the most advanced
    one. Final states rank highest; an unknown status lowest. -#}
{% macro flight_status_rank(expr) -%}
    case {{ expr }}
        when 'Arrived' then 12
        when 'Canceled' then 11
        when 'Diverted' then 10
        when 'CanceledUncertain' then 9
        when 'Approaching' then 8
        when 'EnRoute' then 7
        when 'Departed' then 6
        when 'GateClosed' then 5
        when 'Boarding' then 4
        when 'CheckIn' then 3
        when 'Delayed' then 2
        when 'Expected' then 1
        when 'Unknown' then 0
        else -1
    end
{%- endmacro %}

{#- Trimmed text, NULL for a missing value, an empty string or the `nan`
    the old pipeline wrote for missing text. -#}
{% macro flight_text(expr) -%}
    nullif(nullif(trim({{ expr }}), ''), 'nan')
{%- endmacro %}

{#- A surrogate key: MD5 of the values joined with `|`, NULLs as empty
    strings (dbt_utils' generate_surrogate_key, written out). -#}
{% macro flight_key(exprs) -%}
    md5(concat_ws('|'
    {%- for e in exprs %}, coalesce(cast({{ e }} as varchar), ''){% endfor -%}
    ))
{%- endmacro %}

{% macro sql_list(values) -%}
    ({% for v in values %}'{{ v }}'{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}

{#- Dimension keys. An airport is known by its IATA code, else its ICAO
    code, else its name (the API sometimes sends only a name); an airline
    likewise. Movements without one point at the `unknown` member. -#}
{% macro airport_key(iata, icao='null', name='null') -%}
    case when coalesce({{ iata }}, {{ icao }}, {{ name }}) is null then 'unknown'
         else md5(coalesce('iata:' || upper({{ iata }}), 'icao:' || upper({{ icao }}), 'name:' || {{ name }})) end
{%- endmacro %}

{% macro airline_key(iata, icao, name) -%}
    case when coalesce({{ iata }}, {{ icao }}, {{ name }}) is null then 'unknown'
         else md5(coalesce('iata:' || upper({{ iata }}), 'icao:' || upper({{ icao }}), 'name:' || {{ name }})) end
{%- endmacro %}
