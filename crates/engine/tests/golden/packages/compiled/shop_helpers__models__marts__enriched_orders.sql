select
    order_id,
    cast(round(amount * 100) as integer) as amount_cents,
    'USD' as currency,
    'global' as region,
    round(amount, 1) as formatted,
    'package' as label
from "pkgs"."main"."orders"