{#- Airports: every airport at the other end of a movement, every queried
    airport, and an `unknown` member. One row per airport_key; where the
    API named an airport in several ways, the most frequent wins. -#}
with other_end as (

    select
        {{ airport_key('airport_iata', 'airport_icao', 'airport_name') }} as airport_key,
        airport_iata,
        airport_icao,
        airport_name,
        airport_time_zone,
        count(*) as movements
    from {{ ref('flights') }}
    where coalesce(airport_iata, airport_icao, airport_name) is not null
    group by all

),

described as (

    select *
    from other_end
    qualify row_number() over (
        partition by airport_key
        order by movements desc, airport_name nulls last, airport_icao nulls last, airport_time_zone nulls last
    ) = 1

),

queried as (

    select distinct
        {{ airport_key('code') }} as airport_key,
        code
    from {{ ref('flights') }}

)

select
    coalesce(d.airport_key, q.airport_key) as airport_key,
    coalesce(d.airport_iata, q.code) as airport_iata,
    d.airport_icao,
    d.airport_name,
    d.airport_time_zone,
    q.code is not null as is_queried_airport
from described as d
full outer join queried as q on q.airport_key = d.airport_key

union all

select 'unknown', null, null, 'Unknown airport', null, false
