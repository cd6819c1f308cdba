{{ config(**clickhouse_layout(order_by=['session_date', 'channel', 'session_id'], partition_by='toYYYYMM(session_date)', sharding_key='cityHash64(session_id)')) }}
with s as (
    select
        session_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        -- the session's first event decides its visitor, channel and device (deterministic on ties)
        {{ first_by('anonymous_id', 'occurred_at, event_id') }} as anonymous_id,
        max(user_id) as user_id,
        {{ first_by('channel', 'occurred_at, event_id') }} as channel,
        {{ first_by('device', 'occurred_at, event_id') }} as device,
        count(*) as events,
        count(*) filter (where event = 'Product Viewed') as product_views,
        count(*) filter (where event = 'Products Searched') as searches,
        count(*) filter (where event = 'Product Added') as adds,
        count(*) filter (where event = 'Product Removed') as removes,
        count(*) filter (where event = 'Coupon Applied') as coupons_applied,
        max(order_id) as order_id,
        sum(revenue) filter (where event = 'Order Completed') as revenue
    from {{ ref('fct_events') }}
    group by session_id
),
-- stitch anonymous visitors to the member they later identified as
identities as (
    select anonymous_id, max(user_id) as user_id
    from {{ ref('fct_events') }}
    where user_id is not null and anonymous_id is not null
    group by anonymous_id
)
select
    s.session_id as session_id,
    coalesce(s.user_id, i.user_id) as customer_id,
    s.anonymous_id as anonymous_id,
    s.channel as channel,
    s.device as device,
    s.started_at as started_at,
    s.ended_at as ended_at,
    cast(s.started_at as date) as session_date,
    date_diff('second', s.started_at, s.ended_at) as duration_seconds,
    s.events as events, s.product_views as product_views, s.searches as searches, s.adds as adds, s.removes as removes, s.coupons_applied as coupons_applied,
    coalesce(f.funnel_depth, 0) as funnel_depth,
    cast(coalesce(f.funnel_depth, 0) = 5 as boolean) as converted,
    cast(s.adds > 0 and coalesce(f.funnel_depth, 0) < 5 as boolean) as abandoned_cart,
    s.order_id as order_id,
    s.revenue as revenue
from s
left join identities i using (anonymous_id)
left join {{ ref('int_session_funnel') }} f using (session_id)
