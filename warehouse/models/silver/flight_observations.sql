{#- Every bronze record, typed once: one row per (landing_file,
    record_index). Incremental on bronze's load time, so a build parses the
    JSON of new records only. `typing_error` says why a record cannot be
    typed (it then goes to quarantine_flights, not to flights). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['landing_file', 'record_index'],
    on_schema_change='fail',
    partitioned_by=['day(scheduled_time_utc)'],
) }}

with bronze as (

    select *
    from {{ source('bronze', 'flightlabs_historical') }}
    {% if is_incremental() %}
    where loaded_at > (select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }})
    {% endif %}

),

extracted as (

    -- one JSON parse per record: json_extract_string with a list of paths
    select
        *,
        json_extract_string(record, [
            '$.airline.name', '$.airline.iata', '$.airline.icao',
            '$.aircraft.model', '$.aircraft.modeS', '$.aircraft.reg',
            '$.movement.terminal', '$.movement.gate', '$.movement.baggageBelt',
            '$.movement.airport.name', '$.movement.airport.iata',
            '$.movement.airport.icao', '$.movement.airport.timeZone',
            '$.movement.scheduledTime.local',
            '$.movement.revisedTime.utc', '$.movement.revisedTime.local',
            '$.movement.runwayTime.utc', '$.movement.runwayTime.local',
            '$.movement.quality'
        ]) as v
    from bronze

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
        upper({{ flight_text('number') }}) as number,
        {{ flight_text('status') }} as status,
        {{ flight_text('codeshare_status') }} as codeshare_status,
        is_cargo,
        {{ flight_text('call_sign') }} as call_sign,
        {{ flight_text('v[1]') }} as airline_name,
        {{ flight_text('v[2]') }} as airline_iata,
        {{ flight_text('v[3]') }} as airline_icao,
        {{ flight_text('v[4]') }} as aircraft_model,
        {{ flight_text('v[5]') }} as aircraft_mode_s,
        {{ flight_text('v[6]') }} as aircraft_reg,
        {{ flight_text('v[7]') }} as terminal_name,
        {{ flight_text('v[8]') }} as gate,
        {{ flight_text('v[9]') }} as baggage_belt,
        {{ flight_text('v[10]') }} as airport_name,
        {{ flight_text('v[11]') }} as airport_iata,
        {{ flight_text('v[12]') }} as airport_icao,
        {{ flight_text('v[13]') }} as airport_time_zone,
        trim(scheduled_utc) as scheduled_utc_text,
        {{ flight_text('v[14]') }} as scheduled_local_text,
        {{ flight_text('v[15]') }} as revised_utc_text,
        {{ flight_text('v[16]') }} as revised_local_text,
        {{ flight_text('v[17]') }} as runway_utc_text,
        {{ flight_text('v[18]') }} as runway_local_text,
        v[19] as quality_json
    from extracted

),

instants as (

    select
        *,
        {{ flight_instant('scheduled_utc_text') }} as scheduled_time_utc,
        {{ flight_instant('scheduled_local_text') }} as scheduled_time_local,
        {{ flight_instant('revised_utc_text') }} as revised_time_utc,
        {{ flight_instant('revised_local_text') }} as revised_time_local,
        {{ flight_instant('runway_utc_text') }} as runway_time_utc,
        {{ flight_instant('runway_local_text') }} as runway_time_local
    from fields

),

typed as (

    select
        *,
        {{ flight_wall_clock('scheduled_utc_text', 'scheduled_time_utc') }} as scheduled_wall_utc,
        {{ flight_wall_clock('revised_utc_text', 'revised_time_utc') }} as revised_wall_utc,
        {{ flight_wall_clock('scheduled_local_text', 'scheduled_time_local') }} as scheduled_wall_local,
        case
            when quality_json is null then null
            when starts_with(quality_json, '[')
                then nullif(array_to_string(list_sort(cast(from_json(quality_json, '["VARCHAR"]') as varchar[])), '-'), '')
            else {{ flight_text('quality_json') }}
        end as quality
    from instants

),

checked as (

    select
        *,
        case
            when flight_type not in ('arrival', 'departure') then 'unknown direction ' || flight_type
            when scheduled_time_utc is null or scheduled_wall_utc is null
                then 'unparseable scheduled UTC time ' || coalesce('''' || scheduled_utc_text || '''', 'NULL')
            when not {{ flight_is_utc('scheduled_utc_text') }}
                then 'scheduled UTC time ''' || scheduled_utc_text || ''' is not in UTC'
            when scheduled_local_text is not null and scheduled_time_local is null
                then 'unparseable scheduled local time ''' || scheduled_local_text || ''''
            when revised_utc_text is not null and (revised_time_utc is null or not {{ flight_is_utc('revised_utc_text') }})
                then 'unparseable revised UTC time ''' || revised_utc_text || ''''
            when revised_local_text is not null and revised_time_local is null
                then 'unparseable revised local time ''' || revised_local_text || ''''
            when runway_utc_text is not null and runway_time_utc is null
                then 'unparseable runway UTC time ''' || runway_utc_text || ''''
            when runway_local_text is not null and runway_time_local is null
                then 'unparseable runway local time ''' || runway_local_text || ''''
            when status is not null and status not in {{ sql_list(flight_statuses()) }}
                then 'unknown status ''' || status || ''''
            when codeshare_status is not null and codeshare_status not in {{ sql_list(flight_codeshare_statuses()) }}
                then 'unknown codeshare status ''' || codeshare_status || ''''
        end as typing_error
    from typed

)

select
    -- the movement: (queried airport, direction, flight number, scheduled UTC
    -- time). A movement without a flight number (cargo operators such as
    -- TAESCOL or GIRAG send none) is a real movement too: it is known by its
    -- airline, its registration or else its call sign where present, in
    -- place of the number.
    case
        when typing_error is not null then null
        when number is not null then
            {{ flight_key(['code', 'flight_type', 'number', "strftime(scheduled_wall_utc, '%Y-%m-%dT%H:%M:%SZ')"]) }}
        else
            {{ flight_key(['code', 'flight_type', "'(no number)'", "strftime(scheduled_wall_utc, '%Y-%m-%dT%H:%M:%SZ')",
                           'coalesce(airline_icao, airline_iata, airline_name)', 'coalesce(aircraft_reg, call_sign)']) }}
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
