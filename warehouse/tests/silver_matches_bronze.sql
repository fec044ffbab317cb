-- silver.flights holds exactly the distinct movements of bronze minus the
-- records silver quarantined, and their observations add up to those
-- records. Computed from bronze directly, not from flight_observations.
-- A movement without a flight number is known by its airline and its
-- registration or else call sign instead (NULL for the others).
with accepted as (

    select
        b.airport,
        b.direction,
        upper({{ flight_text('b.number') }}) as number,
        cast(trim(b.scheduled_utc) as timestamp with time zone) as scheduled,
        b.record,
        b.call_sign
    from {{ source('bronze', 'flightlabs_historical') }} as b
    anti join {{ ref('quarantine_flights') }} as q
      on q.landing_file = b.landing_file and q.record_index = b.record_index

),

keyed as (

    select
        airport,
        direction,
        number,
        scheduled,
        case when number is null then coalesce(
            {{ flight_text("record->>'$.airline.icao'") }},
            {{ flight_text("record->>'$.airline.iata'") }},
            {{ flight_text("record->>'$.airline.name'") }}
        ) end as airline,
        case when number is null then coalesce(
            {{ flight_text("record->>'$.aircraft.reg'") }},
            {{ flight_text('call_sign') }}
        ) end as craft
    from accepted

),

expected as (

    select airport, direction, number, scheduled, airline, craft, count(*) as observations
    from keyed
    group by all

),

actual as (

    select
        code as airport,
        flight_type as direction,
        number,
        scheduled_time_utc as scheduled,
        case when number is null then coalesce(airline_icao, airline_iata, airline_name) end as airline,
        case when number is null then coalesce(aircraft_reg, call_sign) end as craft,
        observations
    from {{ ref('flights') }}

)

(select 'missing from silver' as problem, * from expected except select 'missing from silver', * from actual)
union all
(select 'not in bronze' as problem, * from actual except select 'not in bronze', * from expected)
