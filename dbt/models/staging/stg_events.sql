select
    event_id,
    event,
    occurred_at,
    cast(occurred_at as date) as event_date,
    anonymous_id,
    user_id,
    -- events without a session id are grouped per visitor and day
    coalesce(session_id, coalesce(anonymous_id, user_id) || '@' || cast(cast(occurred_at as date) as varchar)) as session_id,
    coalesce(channel, 'unknown') as channel,
    device,
    sku,
    query as search_query,
    list_id,
    order_id,
    {{ money('revenue') }} as revenue,
    coupon_code,
    promotion_id,
    case event
        when 'Product Viewed' then 1
        when 'Product Added' then 2
        when 'Checkout Started' then 3
        when 'Payment Info Entered' then 4
        when 'Order Completed' then 5
    end as funnel_step,
    _batch,
    _ingested_at
from {{ source('raw', 'events') }}
