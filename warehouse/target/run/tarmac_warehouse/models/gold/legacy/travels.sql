create table "tt"."gold"."travels__dbt_tmp" as (
select distinct
    number,
    code,
    airport_iata,
    airline_iata
from "tt"."silver"."flights"
);