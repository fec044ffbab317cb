{#- Distinct routes: flight number, queried airport, other airport, airline.
    A route is named by its flight number: movements without one (cargo
    flights) are in flights and the star schema, not here. -#}
select distinct
    number,
    code,
    airport_iata,
    airline_iata
from {{ ref('flights') }}
where number is not null
