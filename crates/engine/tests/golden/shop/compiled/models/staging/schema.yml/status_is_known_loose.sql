
    
    

with all_values as (

    select
        status as value_field,
        count(*) as n_records

    from (select * from "shop"."main"."stg_orders" where order_date > '2018-02-01') dbt_subquery
    group by status

)

select *
from all_values
where value_field not in (
    'placed','shipped','completed','returned','return_pending'
)


