select
    id as order_id,
    user_id as customer_id,
    order_date,
    status
from "jaffle"."main"."raw_orders"
where order_date >= '2018-01-01'