{#- Distinct aircraft as operated by an airline (cargo or not). -#}
select distinct
    plane_id,
    aircraft_id,
    is_cargo,
    airline_iata
from {{ ref('flights') }}
where plane_id is not null
