create table "tt"."gold"."dim_time_of_day__dbt_tmp" as (
with minutes as (

    select cast(range as integer) as minute_of_day
    from range(0, 1440)

)

select
    minute_of_day as time_of_day_key,
    cast(minute_of_day // 60 as integer) as hour,
    cast(minute_of_day % 60 as integer) as minute,
    make_time(minute_of_day // 60, minute_of_day % 60, 0) as time_of_day,
    printf('%02d:%02d', minute_of_day // 60, minute_of_day % 60) as label,
    case
        when minute_of_day < 360 then 'night'
        when minute_of_day < 720 then 'morning'
        when minute_of_day < 1080 then 'afternoon'
        else 'evening'
    end as day_part
from minutes

union all

select -1, null, null, null, 'unknown', 'unknown'
);