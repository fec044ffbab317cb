

select * from "snaps"."main"."customers_src"