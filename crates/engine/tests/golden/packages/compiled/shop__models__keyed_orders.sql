select
    md5(cast(coalesce(cast(customer_id as TEXT), '_dbt_utils_surrogate_key_null_') || '-' || coalesce(cast(status as TEXT), '_dbt_utils_surrogate_key_null_') as TEXT)) as customer_status_key,
    o."order_id",
  o."customer_id",
  o."status",
  o."ordered_at",
    cast(round(o.amount * 100) as integer) as amount_cents,
    'root' as root_label,
    'root-label' as package_label
from "pkgs"."main"."orders" as o