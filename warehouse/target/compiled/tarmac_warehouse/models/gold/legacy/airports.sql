with seen as (

    select
        airport_iata,
        airport_name,
        airport_icao,
        airport_time_zone,
        count(*) as movements
    from "tt"."silver"."flights"
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