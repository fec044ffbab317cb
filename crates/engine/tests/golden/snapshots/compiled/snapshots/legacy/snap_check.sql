

select id, region, name, status from "snaps"."main"."customers_src"