
select
    id as payment_id,
    order_id,
    payment_method,
    round(amount / 100.0, 2) as amount
from "jaffle"."main"."raw_payments"