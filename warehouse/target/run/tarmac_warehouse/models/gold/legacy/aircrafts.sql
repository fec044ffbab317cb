create table "tt"."gold"."aircrafts__dbt_tmp" as (
select distinct
    aircraft_id,
    aircraft_model,
    aircraft_mode_s,
    aircraft_reg
from "tt"."silver"."flights"
where aircraft_model is not null
);