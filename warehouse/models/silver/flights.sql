{#- One row per flight movement. All observations of a movement (repeats
    in one response, both windows of a day, the same day imported from two
    files, a delta that fetched the day again) collapse to one row:

      1. the latest fetch wins (fetched_at, newest first; API observations
         therefore win over archive ones, which have no fetch time);
      2. among observations with the same or no fetch time: the most advanced
         status (flight_status_rank: Arrived > Canceled > Diverted >
         CanceledUncertain > Approaching > EnRoute > Departed > GateClosed >
         Boarding > CheckIn > Delayed > Expected > Unknown);
      3. then the later source file name, the later landing file, the later
         record in it (only to make the choice total: such observations are
         the same record).

    `observations` counts what collapsed. Incremental: a build recomputes
    only the movements that received an observation since the last build
    (from all of their observations), and merges them on `id`. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='id',
    on_schema_change='fail',
    partitioned_by=['day(scheduled_time_utc)'],
) }}

with observations as (

    select *
    from {{ ref('flight_observations') }}
    where typing_error is null
    {% if is_incremental() %}
      and id in (
        select id
        from {{ ref('flight_observations') }}
        where typing_error is null
          and loaded_at > (select coalesce(max(last_loaded_at), '-infinity'::timestamptz) from {{ this }})
      )
    {% endif %}

),

ranked as (

    select
        *,
        count(*) over (partition by id) as observation_count,
        max(loaded_at) over (partition by id) as max_loaded_at,
        row_number() over (
            partition by id
            order by
                fetched_at desc nulls last,
                {{ flight_status_rank('status') }} desc,
                source_file desc nulls last,
                landing_file desc,
                record_index desc
        ) as pick
    from observations

)

select
    id,
    number,
    code,
    date,
    flight_type,
    status,
    is_operator,
    is_codeshared,
    is_cargo,
    call_sign,
    airline_name,
    airline_iata,
    airline_icao,
    case when coalesce(aircraft_model, aircraft_mode_s, aircraft_reg) is not null then
        {{ flight_key(['aircraft_model', 'aircraft_mode_s', 'aircraft_reg']) }}
    end as aircraft_id,
    case when coalesce(aircraft_model, aircraft_mode_s, aircraft_reg) is not null then
        {{ flight_key(['aircraft_model', 'aircraft_mode_s', 'aircraft_reg', 'is_cargo', 'airline_iata']) }}
    end as plane_id,
    aircraft_model,
    aircraft_mode_s,
    aircraft_reg,
    terminal,
    quality,
    gate,
    airport_name,
    airport_iata,
    airport_icao,
    airport_time_zone,
    scheduled_time_utc,
    scheduled_time_local,
    revised_time_utc,
    revised_time_local,
    runway_time_utc,
    runway_time_local,
    baggage_belt,
    terminal_name,
    codeshare_status,
    scheduled_local_wall_time,
    delay_minutes,
    cast(observation_count as integer) as observations,
    source,
    source_file,
    landing_file,
    record_index,
    queried_date,
    fetched_at,
    loaded_at,
    max_loaded_at as last_loaded_at
from ranked
where pick = 1
