select order_id, amount_cents, currency, region, formatted
from "pkgs"."main_helpers"."enriched_orders"