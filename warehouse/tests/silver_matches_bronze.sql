-- silver.flights holds exactly the distinct movements of bronze minus the
-- records silver quarantined, and their observations add up to those
-- records. Computed from bronze directly, not from flight_observations.
with accepted as (

    select
        b.airport,
        b.direction,
        upper(trim(b.number)) as number,
        cast(trim(b.scheduled_utc) as timestamp with time zone) as scheduled
    from {{ source('bronze', 'flightlabs_historical') }} as b
    anti join {{ ref('quarantine_flights') }} as q
      on q.landing_file = b.landing_file and q.record_index = b.record_index

),

expected as (

    select airport, direction, number, scheduled, count(*) as observations
    from accepted
    group by all

),

actual as (

    select
        code as airport,
        flight_type as direction,
        number,
        scheduled_time_utc as scheduled,
        observations
    from {{ ref('flights') }}

)

(select 'missing from silver' as problem, * from expected except select 'missing from silver', * from actual)
union all
(select 'not in bronze' as problem, * from actual except select 'not in bronze', * from expected)
