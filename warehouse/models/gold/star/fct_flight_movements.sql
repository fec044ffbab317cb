{#- The fact table: one row per flight movement (silver flights), with keys
    to every dimension, the delay and the on-time and cancelled flags.
    Incremental like silver: a build rewrites only the movements silver
    recomputed (a new observation). Its keys depend on the movement's own
    columns only, so rebuilding the dimensions never invalidates them; after
    changing `on_time_threshold_minutes`, build with --full-refresh. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='movement_id',
    on_schema_change='fail',
    partitioned_by=['date_key'],
) }}
select
    id as movement_id,
    date as date_key,
    coalesce(
        cast(hour(scheduled_local_wall_time) * 60 + minute(scheduled_local_wall_time) as integer),
        -1
    ) as time_of_day_key,
    {{ airport_key('code') }} as airport_key,
    {{ airport_key('airport_iata', 'airport_icao', 'airport_name') }} as other_airport_key,
    {{ airline_key('airline_iata', 'airline_icao', 'airline_name') }} as airline_key,
    coalesce(aircraft_id, 'unknown') as aircraft_key,
    number as flight_number,
    flight_type as direction,
    status,
    is_codeshared,
    is_cargo,
    scheduled_time_utc,
    scheduled_time_local,
    revised_time_utc,
    runway_time_utc,
    delay_minutes,
    case
        when status = 'Canceled' then false
        when delay_minutes is null then null
        else delay_minutes <= {{ var('on_time_threshold_minutes', 15) }}
    end as is_on_time,
    coalesce(status = 'Canceled', false) as is_cancelled,
    observations,
    last_loaded_at
from {{ ref('flights') }}
{% if is_incremental() %}
where last_loaded_at > (select coalesce(max(last_loaded_at), '-infinity'::timestamptz) from {{ this }})
{% endif %}
