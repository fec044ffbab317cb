create table "tt"."gold"."dim_aircraft__dbt_tmp" as (
select distinct
    aircraft_id as aircraft_key,
    aircraft_model,
    aircraft_mode_s,
    aircraft_reg
from "tt"."silver"."flights"
where aircraft_id is not null

union all

select 'unknown', null, null, null
);