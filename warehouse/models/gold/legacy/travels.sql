{#- Distinct routes: flight number, queried airport, other airport, airline. -#}
select distinct
    number,
    code,
    airport_iata,
    airline_iata
from {{ ref('flights') }}
