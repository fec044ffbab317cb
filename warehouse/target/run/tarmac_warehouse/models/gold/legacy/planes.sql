create table "tt"."gold"."planes__dbt_tmp" as (
select distinct
    plane_id,
    aircraft_id,
    is_cargo,
    airline_iata
from "tt"."silver"."flights"
where plane_id is not null
);