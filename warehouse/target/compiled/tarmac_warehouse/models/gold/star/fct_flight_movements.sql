select
    id as movement_id,
    date as date_key,
    coalesce(
        cast(hour(scheduled_local_wall_time) * 60 + minute(scheduled_local_wall_time) as integer),
        -1
    ) as time_of_day_key,
    case when coalesce(code, null, null) is null then 'unknown'
         else md5(coalesce('iata:' || upper(code), 'icao:' || upper(null), 'name:' || null)) end as airport_key,
    case when coalesce(airport_iata, airport_icao, airport_name) is null then 'unknown'
         else md5(coalesce('iata:' || upper(airport_iata), 'icao:' || upper(airport_icao), 'name:' || airport_name)) end as other_airport_key,
    case when coalesce(airline_iata, airline_icao, airline_name) is null then 'unknown'
         else md5(coalesce('iata:' || upper(airline_iata), 'icao:' || upper(airline_icao), 'name:' || airline_name)) end as airline_key,
    coalesce(aircraft_id, 'unknown') as aircraft_key,
    number as flight_number,
    flight_type as direction,
    status,
    is_codeshared,
    is_cargo,
    scheduled_time_utc,
    scheduled_time_local,
    revised_time_utc,
    runway_time_utc,
    delay_minutes,
    case
        when status = 'Canceled' then false
        when delay_minutes is null then null
        else delay_minutes <= 15
    end as is_on_time,
    coalesce(status = 'Canceled', false) as is_cancelled,
    observations
from "tt"."silver"."flights"