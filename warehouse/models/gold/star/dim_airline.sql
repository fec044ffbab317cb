{#- Airlines, one row per airline_key (IATA, else ICAO, else name), plus an
    `unknown` member. The most frequent name and ICAO code win. -#}
with seen as (

    select
        {{ airline_key('airline_iata', 'airline_icao', 'airline_name') }} as airline_key,
        airline_iata,
        airline_icao,
        airline_name,
        count(*) as movements
    from {{ ref('flights') }}
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
