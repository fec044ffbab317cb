



with payments as (
    select * from "jaffle"."main"."stg_payments"
),

order_payments as (
    select
        order_id,
        sum(case when payment_method = 'credit_card' then amount else 0 end) as credit_card_amount,
        sum(case when payment_method = 'coupon' then amount else 0 end) as coupon_amount,
        sum(case when payment_method = 'bank_transfer' then amount else 0 end) as bank_transfer_amount,
        sum(case when payment_method = 'gift_card' then amount else 0 end) as gift_card_amount,
        sum(amount) as total_amount
    from payments
    group by order_id
)

select
    o.order_id,
    o.customer_id,
    o.order_date,
    o.status,
    o.status in ('completed', 'shipped') as is_completed,
    coalesce(p.credit_card_amount, 0) as credit_card_amount,
    coalesce(p.coupon_amount, 0) as coupon_amount,
    coalesce(p.bank_transfer_amount, 0) as bank_transfer_amount,
    coalesce(p.gift_card_amount, 0) as gift_card_amount,
    coalesce(p.total_amount, 0) as amount
from "jaffle"."main"."stg_orders" as o
left join order_payments as p on o.order_id = p.order_id
