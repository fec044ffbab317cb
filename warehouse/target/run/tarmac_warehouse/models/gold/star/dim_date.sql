create table "tt"."gold"."dim_date__dbt_tmp" as (
with bounds as (

    select
        make_date(cast(year(min(date)) as bigint), 1, 1) as first_day,
        make_date(cast(year(max(date)) as bigint), 12, 31) as last_day
    from "tt"."silver"."flights"

),

days as (

    select cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date) as date_day
    from bounds
    where first_day is not null

)

select
    date_day as date_key,
    date_day,
    cast(year(date_day) as integer) as year,
    cast(quarter(date_day) as integer) as quarter,
    cast(month(date_day) as integer) as month,
    monthname(date_day) as month_name,
    cast(day(date_day) as integer) as day_of_month,
    cast(isodow(date_day) as integer) as day_of_week,
    dayname(date_day) as day_name,
    cast(dayofyear(date_day) as integer) as day_of_year,
    cast(weekofyear(date_day) as integer) as iso_week,
    cast(isoyear(date_day) as integer) as iso_year,
    isodow(date_day) in (6, 7) as is_weekend,
    cast(date_trunc('month', date_day) as date) as first_day_of_month,
    last_day(date_day) as last_day_of_month
from days
);