select distinct
    number,
    code,
    airport_iata,
    airline_iata
from "tt"."silver"."flights"