select
    id as customer_id,
    first_name,
    last_name,
    is_vip
from "jaffle"."main"."raw_customers"