create table "tt"."silver"."flights__dbt_tmp" as (


with observations as (

    select *
    from "tt"."silver"."flight_observations"
    where typing_error is null
    

),

ranked as (

    select
        *,
        count(*) over (partition by id) as observation_count,
        max(loaded_at) over (partition by id) as max_loaded_at,
        row_number() over (
            partition by id
            order by
                fetched_at desc nulls last,
                case status
        when 'Arrived' then 12
        when 'Canceled' then 11
        when 'Diverted' then 10
        when 'CanceledUncertain' then 9
        when 'Approaching' then 8
        when 'EnRoute' then 7
        when 'Departed' then 6
        when 'GateClosed' then 5
        when 'Boarding' then 4
        when 'CheckIn' then 3
        when 'Delayed' then 2
        when 'Expected' then 1
        when 'Unknown' then 0
        else -1
    end desc,
                source_file desc nulls last,
                landing_file desc,
                record_index desc
        ) as pick
    from observations

)

select
    id,
    number,
    code,
    date,
    flight_type,
    status,
    is_operator,
    is_codeshared,
    is_cargo,
    call_sign,
    airline_name,
    airline_iata,
    airline_icao,
    case when coalesce(aircraft_model, aircraft_mode_s, aircraft_reg) is not null then
        md5(concat_ws('|', coalesce(cast(aircraft_model as varchar), ''), coalesce(cast(aircraft_mode_s as varchar), ''), coalesce(cast(aircraft_reg as varchar), '')))
    end as aircraft_id,
    case when coalesce(aircraft_model, aircraft_mode_s, aircraft_reg) is not null then
        md5(concat_ws('|', coalesce(cast(aircraft_model as varchar), ''), coalesce(cast(aircraft_mode_s as varchar), ''), coalesce(cast(aircraft_reg as varchar), ''), coalesce(cast(is_cargo as varchar), ''), coalesce(cast(airline_iata as varchar), '')))
    end as plane_id,
    aircraft_model,
    aircraft_mode_s,
    aircraft_reg,
    terminal,
    quality,
    gate,
    airport_name,
    airport_iata,
    airport_icao,
    airport_time_zone,
    scheduled_time_utc,
    scheduled_time_local,
    revised_time_utc,
    revised_time_local,
    runway_time_utc,
    runway_time_local,
    baggage_belt,
    terminal_name,
    codeshare_status,
    scheduled_local_wall_time,
    delay_minutes,
    cast(observation_count as integer) as observations,
    source,
    source_file,
    landing_file,
    record_index,
    queried_date,
    fetched_at,
    loaded_at,
    max_loaded_at as last_loaded_at
from ranked
where pick = 1
);