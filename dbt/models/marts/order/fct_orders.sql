select
    order_id,
    any_value(customer_id) as customer_id,
    min(ordered_at) as ordered_at,
    cast(min(ordered_at) as date) as order_date,
    any_value(channel) as channel,
    any_value(store_id) as store_id,
    any_value(fulfillment) as fulfillment,
    any_value(payment_method) as payment_method,
    any_value(coupon_code) as coupon_code,
    bool_or(promotion_id is not null) as has_promotion,
    bool_or(is_return) as is_return,
    any_value(original_order_id) as original_order_id,
    count(*) as lines,
    sum(quantity) as units,
    sum(revenue) as revenue,
    sum(discount_amount) as discount_amount,
    sum(net_revenue) as net_revenue
from {{ ref('fct_order_lines') }}
group by order_id
