{#- Distinct aircraft with a model (the old pipeline's table). One row per
    aircraft_id, which hashes model, Mode S and registration. -#}
select distinct
    aircraft_id,
    aircraft_model,
    aircraft_mode_s,
    aircraft_reg
from {{ ref('flights') }}
where aircraft_model is not null
