





with validation_errors as (

    select
        order_id, customer_status_key
    from "pkgs"."main"."keyed_orders"
    group by order_id, customer_status_key
    having count(*) > 1

)

select *
from validation_errors


