select
    order_id,
    first(customer_id order by line_number) as customer_id,
    min(ordered_at) as ordered_at,
    cast(min(ordered_at) as date) as order_date,
    first(channel order by line_number) as channel,
    first(store_id order by line_number) as store_id,
    first(fulfillment order by line_number) as fulfillment,
    first(payment_method order by line_number) as payment_method,
    first(coupon_code order by line_number) as coupon_code,
    bool_or(promotion_id is not null) as has_promotion,
    bool_or(is_return) as is_return,
    first(original_order_id order by line_number) as original_order_id,
    first(source order by line_number) as source,
    count(*) as lines,
    sum(quantity) as units,
    sum(revenue) as revenue,
    sum(discount_amount) as discount_amount,
    sum(net_revenue) as net_revenue
from {{ ref('fct_order_lines') }}
group by order_id
