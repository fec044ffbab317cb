{#- Aircraft as the API describes them (model, Mode S, registration), plus
    an `unknown` member for movements without aircraft data. The key is
    silver's aircraft_id. -#}
select distinct
    aircraft_id as aircraft_key,
    aircraft_model,
    aircraft_mode_s,
    aircraft_reg
from {{ ref('flights') }}
where aircraft_id is not null

union all

select 'unknown', null, null, null
