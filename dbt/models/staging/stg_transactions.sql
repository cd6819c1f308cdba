-- Order lines of every source: the imported files (raw.transactions) and the orders placed through
-- the commerce API (raw.commerce_*, pipelines/commerce_ingest.py). An API order counts once it is
-- paid (a cancelled or unpaid one sold nothing); its returned units are a return line of their own.
with imported as (
    select
        order_id, line_number, customer_id, sku, quantity, unit_price, discount_amount, ordered_at, store_id,
        channel, fulfillment, coupon_code, promotion_id, payment_method, original_order_id,
        'import' as source, _batch, _ingested_at
    from {{ source('raw', 'transactions') }}
),

-- each API order line's discounts (tier, campaign, coupon, points), its campaign and its coupon's code
api_discounts as (
    select
        d.order_id as order_id,
        d.line_number as line_number,
        sum(d.amount) / 100.0 as discount_amount,
        max(case when d.kind = 'campaign' then d.source end) as promotion_id,
        max(c.code) as coupon_code
    from {{ source('raw', 'commerce_order_discounts') }} as d
    left join {{ source('raw', 'commerce_coupon_definitions') }} as c
        on d.kind = 'coupon' and d.source = 'coupon:' || cast(c.id as varchar)
    group by d.order_id, d.line_number
),

api_lines as (
    select o.order_id as order_id, o.customer_id as customer_id, o.store_id as store_id, o.channel as channel, o.fulfillment as fulfillment, o.created_at as created_at, o.updated_at as updated_at,
           o._extracted_at as _extracted_at, l.line_number as line_number, l.sku as sku, l.quantity as quantity, l.returned_quantity as returned_quantity,
           l.unit_price / 100.0 as unit_price,  -- the API keeps minor units
           coalesce(d.discount_amount, 0) as line_discount, d.promotion_id as promotion_id, d.coupon_code as coupon_code
    from {{ source('raw', 'commerce_orders') }} as o
    inner join {{ source('raw', 'commerce_order_lines') }} as l on l.order_id = o.order_id
    left join api_discounts as d on d.order_id = l.order_id and d.line_number = l.line_number
    where o.status in {{ "('" ~ var('commerce_sold_statuses') | join("', '") ~ "')" }}
),

api_sales as (
    select
        order_id, line_number, customer_id, sku, quantity, unit_price, line_discount as discount_amount,
        created_at as ordered_at, store_id, channel, fulfillment, coupon_code, promotion_id,
        null as payment_method, null as original_order_id, 'commerce_api' as source,
        'commerce:' || order_id as _batch, _extracted_at as _ingested_at
    from api_lines
),

api_returns as (
    select
        order_id || '-R' as order_id, line_number, customer_id, sku, -returned_quantity as quantity, unit_price,
        -- the share of the line's discount the returned units had comes back with them
        -line_discount * returned_quantity / quantity as discount_amount, updated_at as ordered_at, store_id,
        channel, fulfillment, coupon_code, promotion_id, null as payment_method, order_id as original_order_id,
        'commerce_api' as source, 'commerce:' || order_id as _batch, _extracted_at as _ingested_at
    from api_lines
    where returned_quantity > 0
),

lines as (
    {%- set columns = "order_id, line_number, customer_id, sku, quantity, unit_price, discount_amount, ordered_at,
        store_id, channel, fulfillment, coupon_code, promotion_id, payment_method, original_order_id, source, _batch,
        _ingested_at" %}
    select {{ columns }} from imported
    union all
    select {{ columns }} from api_sales
    union all
    select {{ columns }} from api_returns
)

select
    order_id,
    line_number,
    customer_id,
    sku,
    quantity,
    unit_price,
    -- money as exact decimals, so that sums do not depend on the order rows are added in
    {{ money('coalesce(discount_amount, 0)') }} as discount_amount,
    {{ money('quantity * unit_price') }} as revenue,
    {{ money('quantity * unit_price') }} - {{ money('coalesce(discount_amount, 0)') }} as net_revenue,
    ordered_at,
    cast(ordered_at as date) as order_date,
    coalesce(store_id, 'ONLINE') as store_id,
    coalesce(channel, 'unknown') as channel,
    coalesce(fulfillment, case when store_id is null then 'delivery' else 'in_store' end) as fulfillment,
    coupon_code,
    promotion_id,
    payment_method,
    original_order_id,
    cast(quantity < 0 as boolean) as is_return,
    source,
    _batch,
    _ingested_at
from lines
