{#- Distinct airports with an IATA code, one row per code (the old table
    could hold a code twice when its name varied). The name, ICAO code and
    time zone are the ones most movements carry, ties broken by name. -#}
with seen as (

    select
        airport_iata,
        airport_name,
        airport_icao,
        airport_time_zone,
        count(*) as movements
    from {{ ref('flights') }}
    where airport_iata is not null
    group by all

)

select
    airport_name,
    airport_iata,
    airport_icao,
    airport_time_zone
from seen
qualify row_number() over (
    partition by airport_iata
    order by movements desc, airport_name nulls last, airport_icao nulls last, airport_time_zone nulls last
) = 1
