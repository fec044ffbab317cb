





with validation_errors as (

    select
        customer_id, status, customer_status_key, order_id, package_label, root_label
    from "pkgs"."main"."keyed_orders"
    group by customer_id, status, customer_status_key, order_id, package_label, root_label
    having count(*) > 1

)

select *
from validation_errors


