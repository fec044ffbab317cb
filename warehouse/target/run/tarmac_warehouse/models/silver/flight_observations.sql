create table "tt"."silver"."flight_observations__dbt_tmp" as (


with bronze as (

    select *
    from "tt"."bronze"."flightlabs_historical"
    

),

fields as (

    select
        landing_file,
        record_index,
        source,
        source_file,
        fetched_at,
        loaded_at,
        flight_date as queried_date,
        fetch_window,
        airport as code,
        direction as flight_type,
        upper(nullif(nullif(trim(number), ''), 'nan')) as number,
        nullif(nullif(trim(status), ''), 'nan') as status,
        nullif(nullif(trim(codeshare_status), ''), 'nan') as codeshare_status,
        is_cargo,
        nullif(nullif(trim(call_sign), ''), 'nan') as call_sign,
        nullif(nullif(trim(record->>'$.airline.name'), ''), 'nan') as airline_name,
        nullif(nullif(trim(record->>'$.airline.iata'), ''), 'nan') as airline_iata,
        nullif(nullif(trim(record->>'$.airline.icao'), ''), 'nan') as airline_icao,
        nullif(nullif(trim(record->>'$.aircraft.model'), ''), 'nan') as aircraft_model,
        nullif(nullif(trim(record->>'$.aircraft.modeS'), ''), 'nan') as aircraft_mode_s,
        nullif(nullif(trim(record->>'$.aircraft.reg'), ''), 'nan') as aircraft_reg,
        nullif(nullif(trim(record->>'$.movement.terminal'), ''), 'nan') as terminal_name,
        nullif(nullif(trim(record->>'$.movement.gate'), ''), 'nan') as gate,
        nullif(nullif(trim(record->>'$.movement.baggageBelt'), ''), 'nan') as baggage_belt,
        record->'$.movement.quality' as quality_json,
        nullif(nullif(trim(record->>'$.movement.airport.name'), ''), 'nan') as airport_name,
        nullif(nullif(trim(record->>'$.movement.airport.iata'), ''), 'nan') as airport_iata,
        nullif(nullif(trim(record->>'$.movement.airport.icao'), ''), 'nan') as airport_icao,
        nullif(nullif(trim(record->>'$.movement.airport.timeZone'), ''), 'nan') as airport_time_zone,
        trim(scheduled_utc) as scheduled_utc_text,
        nullif(nullif(trim(record->>'$.movement.scheduledTime.local'), ''), 'nan') as scheduled_local_text,
        nullif(nullif(trim(record->>'$.movement.revisedTime.utc'), ''), 'nan') as revised_utc_text,
        nullif(nullif(trim(record->>'$.movement.revisedTime.local'), ''), 'nan') as revised_local_text,
        nullif(nullif(trim(record->>'$.movement.runwayTime.utc'), ''), 'nan') as runway_utc_text,
        nullif(nullif(trim(record->>'$.movement.runwayTime.local'), ''), 'nan') as runway_local_text
    from bronze

),

typed as (

    select
        *,
        case when regexp_matches(scheduled_utc_text, '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\s*(Z|[+-]\d{2}:?\d{2})$')
         then try_strptime(
             regexp_replace(scheduled_utc_text, '\s*(Z|[+-]\d{2}:?\d{2})$', ''),
             ['%Y-%m-%d %H:%M', '%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M', '%Y-%m-%dT%H:%M:%S']) end as scheduled_wall_utc,
        case when regexp_matches(revised_utc_text, '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\s*(Z|[+-]\d{2}:?\d{2})$')
         then try_strptime(
             regexp_replace(revised_utc_text, '\s*(Z|[+-]\d{2}:?\d{2})$', ''),
             ['%Y-%m-%d %H:%M', '%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M', '%Y-%m-%dT%H:%M:%S']) end as revised_wall_utc,
        case when regexp_matches(scheduled_local_text, '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\s*(Z|[+-]\d{2}:?\d{2})$')
         then try_strptime(
             regexp_replace(scheduled_local_text, '\s*(Z|[+-]\d{2}:?\d{2})$', ''),
             ['%Y-%m-%d %H:%M', '%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M', '%Y-%m-%dT%H:%M:%S']) end as scheduled_wall_local,
        case when regexp_matches(scheduled_utc_text, '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\s*(Z|[+-]\d{2}:?\d{2})$')
         then try_cast(scheduled_utc_text as timestamp with time zone) end as scheduled_time_utc,
        case when regexp_matches(scheduled_local_text, '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\s*(Z|[+-]\d{2}:?\d{2})$')
         then try_cast(scheduled_local_text as timestamp with time zone) end as scheduled_time_local,
        case when regexp_matches(revised_utc_text, '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\s*(Z|[+-]\d{2}:?\d{2})$')
         then try_cast(revised_utc_text as timestamp with time zone) end as revised_time_utc,
        case when regexp_matches(revised_local_text, '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\s*(Z|[+-]\d{2}:?\d{2})$')
         then try_cast(revised_local_text as timestamp with time zone) end as revised_time_local,
        case when regexp_matches(runway_utc_text, '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\s*(Z|[+-]\d{2}:?\d{2})$')
         then try_cast(runway_utc_text as timestamp with time zone) end as runway_time_utc,
        case when regexp_matches(runway_local_text, '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\s*(Z|[+-]\d{2}:?\d{2})$')
         then try_cast(runway_local_text as timestamp with time zone) end as runway_time_local,
        case
            when quality_json is null then null
            when json_type(quality_json) = 'ARRAY'
                then array_to_string(list_sort(cast(from_json(quality_json, '["VARCHAR"]') as varchar[])), '-')
            else nullif(nullif(trim(json_extract_string(quality_json, '$')), ''), 'nan')
        end as quality
    from fields

),

checked as (

    select
        *,
        case
            when number is null then 'empty flight number'
            when flight_type not in ('arrival', 'departure') then 'unknown direction ' || flight_type
            when scheduled_time_utc is null or scheduled_wall_utc is null
                then 'unparseable scheduled UTC time ' || coalesce('''' || scheduled_utc_text || '''', 'NULL')
            when not regexp_matches(scheduled_utc_text, '(Z|[+-]00:?00)$')
                then 'scheduled UTC time ''' || scheduled_utc_text || ''' is not in UTC'
            when scheduled_local_text is not null and scheduled_time_local is null
                then 'unparseable scheduled local time ''' || scheduled_local_text || ''''
            when revised_utc_text is not null and (revised_time_utc is null or not regexp_matches(revised_utc_text, '(Z|[+-]00:?00)$'))
                then 'unparseable revised UTC time ''' || revised_utc_text || ''''
            when revised_local_text is not null and revised_time_local is null
                then 'unparseable revised local time ''' || revised_local_text || ''''
            when runway_utc_text is not null and runway_time_utc is null
                then 'unparseable runway UTC time ''' || runway_utc_text || ''''
            when runway_local_text is not null and runway_time_local is null
                then 'unparseable runway local time ''' || runway_local_text || ''''
            when status is not null and status not in ('Unknown', 'Expected', 'EnRoute', 'CheckIn', 'Boarding', 'GateClosed', 'Departed', 'Delayed', 'Approaching', 'Arrived', 'Canceled', 'Diverted', 'CanceledUncertain')
                then 'unknown status ''' || status || ''''
            when codeshare_status is not null and codeshare_status not in ('Unknown', 'IsOperator', 'IsCodeshared')
                then 'unknown codeshare status ''' || codeshare_status || ''''
        end as typing_error
    from typed

)

select
    -- the movement: (queried airport, direction, flight number, scheduled UTC time)
    case when typing_error is null then
        md5(concat_ws('|', coalesce(cast(code as varchar), ''), coalesce(cast(flight_type as varchar), ''), coalesce(cast(number as varchar), ''), coalesce(cast(strftime(scheduled_wall_utc, '%Y-%m-%dT%H:%M:%SZ') as varchar), '')))
    end as id,
    number,
    code,
    flight_type,
    scheduled_time_utc,
    -- the local date and wall-clock time at the queried airport
    coalesce(cast(scheduled_wall_local as date), queried_date) as date,
    scheduled_wall_local as scheduled_local_wall_time,
    status,
    codeshare_status,
    codeshare_status = 'IsOperator' as is_operator,
    codeshare_status = 'IsCodeshared' as is_codeshared,
    is_cargo,
    call_sign,
    airline_name,
    airline_iata,
    airline_icao,
    aircraft_model,
    aircraft_mode_s,
    aircraft_reg,
    case when regexp_matches(terminal_name, '^\d{1,9}$') then cast(terminal_name as integer) end as terminal,
    terminal_name,
    quality,
    gate,
    baggage_belt,
    airport_name,
    airport_iata,
    airport_icao,
    airport_time_zone,
    scheduled_time_local,
    revised_time_utc,
    revised_time_local,
    runway_time_utc,
    runway_time_local,
    cast(date_diff('minute', scheduled_wall_utc, revised_wall_utc) as integer) as delay_minutes,
    typing_error,
    -- provenance
    source,
    source_file,
    landing_file,
    record_index,
    queried_date,
    fetch_window,
    fetched_at,
    loaded_at
from checked
);