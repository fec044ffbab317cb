with other_end as (

    select
        case when coalesce(airport_iata, airport_icao, airport_name) is null then 'unknown'
         else md5(coalesce('iata:' || upper(airport_iata), 'icao:' || upper(airport_icao), 'name:' || airport_name)) end as airport_key,
        airport_iata,
        airport_icao,
        airport_name,
        airport_time_zone,
        count(*) as movements
    from "tt"."silver"."flights"
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
        case when coalesce(code, null, null) is null then 'unknown'
         else md5(coalesce('iata:' || upper(code), 'icao:' || upper(null), 'name:' || null)) end as airport_key,
        code
    from "tt"."silver"."flights"

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