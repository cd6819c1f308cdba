{{ config(**clickhouse_layout(order_by=['order_date', 'order_id'], partition_by='toYYYYMM(order_date)', sharding_key='cityHash64(order_id)')) }}
select
    order_id,
    {{ first_by('customer_id', 'line_number') }} as customer_id,
    min(ordered_at) as ordered_at,
    cast(min(ordered_at) as date) as order_date,
    {{ first_by('channel', 'line_number') }} as channel,
    {{ first_by('store_id', 'line_number') }} as store_id,
    {{ first_by('fulfillment', 'line_number') }} as fulfillment,
    {{ first_by('payment_method', 'line_number') }} as payment_method,
    {{ first_by('coupon_code', 'line_number') }} as coupon_code,
    {{ bool_or('promotion_id is not null') }} as has_promotion,
    {{ bool_or('is_return') }} as is_return,
    {{ first_by('original_order_id', 'line_number') }} as original_order_id,
    {{ first_by('source', 'line_number') }} as source,
    count(*) as lines,
    sum(quantity) as units,
    sum(revenue) as revenue,
    sum(discount_amount) as discount_amount,
    sum(net_revenue) as net_revenue
from {{ ref('fct_order_lines') }}
group by order_id
