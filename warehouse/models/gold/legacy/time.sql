{#- The old pipeline's times side table, one row per movement. For
    calendars use dim_date and dim_time_of_day. A view over silver flights,
    like `status`. -#}
{{ config(materialized='view', partitioned_by=['day(scheduled_time_utc)']) }}
select
    id,
    date,
    scheduled_time_utc,
    scheduled_time_local,
    revised_time_utc,
    revised_time_local,
    runway_time_utc,
    runway_time_local
from {{ ref('flights') }}
