select
    order_id,
    line_number,
    customer_id,
    sku,
    quantity,
    unit_price,
    -- money as exact decimals, so that sums do not depend on the order rows are added in
    cast(coalesce(discount_amount, 0) as decimal(38, 6)) as discount_amount,
    cast(quantity * unit_price as decimal(38, 6)) as revenue,
    cast(quantity * unit_price as decimal(38, 6)) - cast(coalesce(discount_amount, 0) as decimal(38, 6)) as net_revenue,
    ordered_at,
    cast(ordered_at as date) as order_date,
    coalesce(store_id, 'ONLINE') as store_id,
    coalesce(channel, 'unknown') as channel,
    coalesce(fulfillment, case when store_id is null then 'delivery' else 'in_store' end) as fulfillment,
    coupon_code,
    promotion_id,
    payment_method,
    original_order_id,
    quantity < 0 as is_return,
    _batch,
    _ingested_at
from {{ source('raw', 'transactions') }}
