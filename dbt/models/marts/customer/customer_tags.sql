-- Behaviour and transaction tags per member, as of the day after the last identified order.
with as_of as (
    select coalesce(
        cast(max(ordered_at) filter (where customer_id is not null) as date) + 1,
        cast(max(ordered_at) as date) + 1,
        current_date
    ) as d
    from {{ ref('fct_order_lines') }}
),
l as (
    select l.*, p.category as category
    from {{ ref('fct_order_lines') }} l
    left join {{ ref('dim_product') }} p using (sku)
    where l.customer_id is not null and l.ordered_at < (select d from as_of)
),
o as (
    select * from {{ ref('fct_orders') }}
    where customer_id is not null and ordered_at < (select d from as_of)
),
s as (
    select * from {{ ref('fct_sessions') }}
    where customer_id is not null
      and started_at >= (select d from as_of) - interval 90 day and started_at < (select d from as_of)
),
by_line as (
    select
        customer_id,
        avg(case when promotion_id is not null or coupon_code is not null then 1 else 0 end) as promo_share,
        avg(case when quantity < 0 then 1 else 0 end) as return_share,
        count(*) as lines,
        count(*) - count(distinct sku) as repeat_sku_lines
    from l group by 1
),
top_category as (
    select customer_id, {{ arg_max('category', 'revenue') }} as top_category
    from (select customer_id, category, sum(net_revenue) as revenue from l group by 1, 2)
    group by 1
),
by_order as (
    select
        customer_id,
        count(*) filter (where not is_return) as orders,
        avg(net_revenue) filter (where not is_return) as avg_order_value,
        {{ mode('channel') }} as preferred_channel,
        avg(case when fulfillment = 'pickup' then 1 else 0 end) filter (where not is_return) as pickup_share,
        count(*) filter (where not is_return and ordered_at >= (select d from as_of) - interval 90 day) as orders_90d,
        date_diff('day', min(ordered_at), (select d from as_of)) as tenure_days
    from o group by 1
),
by_session as (
    select customer_id, count(*) as sessions_90d, count(*) filter (where abandoned_cart) as abandoned_carts_90d
    from s group by 1
)
select
    c.customer_id as customer_id,
    cast(coalesce(bs.sessions_90d, 0) >= 3 and coalesce(bo.orders_90d, 0) = 0 as boolean) as browses_without_buying,
    cast(coalesce(bs.abandoned_carts_90d, 0) >= 2 as boolean) as abandons_carts,
    cast(coalesce(bl.promo_share, 0) >= 0.4 and coalesce(bl.lines, 0) >= 3 as boolean) as promotion_sensitive,
    cast(coalesce(bo.pickup_share, 0) >= 0.3 as boolean) as uses_store_pickup,
    cast(coalesce(bl.return_share, 0) >= 0.2 and coalesce(bl.lines, 0) >= 5 as boolean) as high_returner,
    cast(coalesce(bl.repeat_sku_lines, 0) >= 2 as boolean) as repurchaser,
    cast(month(c.birthday) = month((select d from as_of)) as boolean) as birthday_this_month,
    tc.top_category as category_affinity,
    bo.preferred_channel as preferred_channel,
    bo.avg_order_value as avg_order_value,
    bo.orders as lifetime_orders,
    round(bo.orders / greatest(bo.tenure_days / 30.4, 1), 3) as orders_per_month,
    coalesce(bs.sessions_90d, 0) as sessions_90d,
    (select d from as_of) as as_of
from {{ ref('dim_customer') }} c
left join by_line bl using (customer_id)
left join top_category tc using (customer_id)
left join by_order bo using (customer_id)
left join by_session bs using (customer_id)
