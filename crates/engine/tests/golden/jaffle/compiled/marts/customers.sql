with  __dbt__cte__customer_orders as (
select
    customer_id,
    min(order_date) as first_order,
    max(order_date) as most_recent_order,
    count(order_id) as number_of_orders
from "jaffle"."main"."stg_orders"
group by customer_id
), customers as (
    select * from "jaffle"."main"."stg_customers"
),

orders as (
    select * from "jaffle"."main"."orders"
)

select
    c.customer_id,
    c.first_name,
    c.last_name,
    c.is_vip,
    co.first_order,
    co.most_recent_order,
    coalesce(co.number_of_orders, 0) as number_of_orders,
    coalesce((select sum(amount) from orders o where o.customer_id = c.customer_id), 0) as customer_lifetime_value
from customers c
left join __dbt__cte__customer_orders co on c.customer_id = co.customer_id