{#- The old pipeline's fact table: one row per flight movement (it used to
    hold one per observation, with an id per row; now id is the movement's).
    A view: a projection of silver flights, always current and free to
    build; fct_flight_movements is the table to aggregate. -#}
{{ config(materialized='view', partitioned_by=['day(scheduled_time_utc)']) }}
select
    id,
    aircraft_id,
    plane_id,
    number,
    is_cargo,
    scheduled_time_utc,
    flight_type,
    status,
    airline_iata,
    code,
    airport_iata
from {{ ref('flights') }}
