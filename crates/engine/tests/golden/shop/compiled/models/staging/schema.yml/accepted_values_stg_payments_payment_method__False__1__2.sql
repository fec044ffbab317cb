
    
    

with all_values as (

    select
        payment_method as value_field,
        count(*) as n_records

    from (select * from "shop"."main"."stg_payments" where 1 = 0) dbt_subquery
    group by payment_method

)

select *
from all_values
where value_field not in (
    1,2
)


