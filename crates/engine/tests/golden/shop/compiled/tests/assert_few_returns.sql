
select *
from "shop"."main"."stg_orders"
where status = 'returned'