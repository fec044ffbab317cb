create table "tt"."gold"."dim_airline__dbt_tmp" as (
with seen as (

    select
        case when coalesce(airline_iata, airline_icao, airline_name) is null then 'unknown'
         else md5(coalesce('iata:' || upper(airline_iata), 'icao:' || upper(airline_icao), 'name:' || airline_name)) end as airline_key,
        airline_iata,
        airline_icao,
        airline_name,
        count(*) as movements
    from "tt"."silver"."flights"
    where coalesce(airline_iata, airline_icao, airline_name) is not null
    group by all

)

select
    airline_key,
    airline_iata,
    airline_icao,
    airline_name
from seen
qualify row_number() over (
    partition by airline_key
    order by movements desc, airline_name nulls last, airline_icao nulls last
) = 1

union all

select 'unknown', null, null, 'Unknown airline'
);