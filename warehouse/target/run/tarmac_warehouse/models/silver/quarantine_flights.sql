create table "tt"."silver"."quarantine_flights__dbt_tmp" as (
select
    o.landing_file,
    o.record_index,
    o.source,
    o.source_file,
    o.fetched_at,
    o.loaded_at,
    o.code as airport,
    o.flight_type as direction,
    o.queried_date as flight_date,
    b.number,
    b.scheduled_utc,
    o.typing_error as reason,
    cast(b.record as varchar) as record
from "tt"."silver"."flight_observations" as o
join "tt"."bronze"."flightlabs_historical" as b
  on b.landing_file = o.landing_file and b.record_index = o.record_index
where o.typing_error is not null
);