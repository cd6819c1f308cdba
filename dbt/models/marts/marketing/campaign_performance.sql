-- What each launched campaign of the commerce API did, per day from its launch to its end (or the
-- last extraction): audience, coupons issued, members exposed, redemptions, the audience's orders
-- and revenue, the discount it cost; and, where a control group was held out, the incremental
-- conversion and revenue to date with 95 % confidence intervals and the ROI.
--
-- Attribution: an order counts for a campaign when a member of its audience placed it within the
-- campaign's window (both groups, so the control group is the counterfactual); a campaign without an
-- audience (everyone) counts the orders carrying its discount. Only sold orders count (a cancelled
-- one sold nothing); revenue is what was paid less what was refunded, and the discount cost leaves
-- out the share of returned units. Exposure is a 'Promotion Viewed' or 'Promotion Clicked' event
-- whose promotion_id is 'campaign:<id>' (counted once that day's events are ingested).
with campaigns as (
    select * from {{ ref('stg_commerce_campaigns') }} where launched_at is not null
),

as_of as (
    select coalesce(max(_extracted_at), current_timestamp) as moment from {{ ref('stg_commerce_campaigns') }}
),

members as (
    select * from {{ ref('stg_commerce_campaign_members') }}
),

group_sizes as (
    select
        campaign_id,
        count(*) as audience_size,
        count(*) filter (where assigned_group = 'treatment') as treatment_size,
        count(*) filter (where assigned_group = 'control') as control_size
    from members
    group by campaign_id
),

days as (
    select campaign_id, cast(day as date) as day
    from (
        select c.campaign_id, {{ day_series('c.launched_at', "greatest(cast(c.launched_at as date), "
                                            "cast(least(c.ends_at - interval 1 microsecond, as_of.moment) as date))") }} as day
        from campaigns as c
        cross join as_of
    ) as d
),

sold_orders as (
    select order_id, customer_id, created_at, (paid - refunded) / 100.0 as net_revenue
    from {{ source('raw', 'commerce_orders') }}
    where status in {{ "('" ~ var('commerce_sold_statuses') | join("', '") ~ "')" }}
),

sold_lines as (
    select l.order_id as order_id, l.line_number as line_number, l.sku as sku, l.quantity - l.returned_quantity as kept_units, l.quantity as quantity,
           l.unit_price / 100.0 as unit_price
    from {{ source('raw', 'commerce_order_lines') }} as l
    inner join sold_orders using (order_id)
),

-- a price-rule campaign's own discount lines, and a coupon campaign's coupons' lines
campaign_discount_lines as (
    select c.campaign_id as campaign_id, d.order_id as order_id, d.line_number as line_number, d.amount as amount
    from {{ ref('stg_commerce_order_discounts') }} as d
    inner join campaigns as c on d.source = 'campaign:' || cast(c.campaign_id as varchar)
    union all
    select cp.campaign_id as campaign_id, d.order_id as order_id, d.line_number as line_number, d.amount as amount
    from {{ ref('stg_commerce_coupons') }} as cp
    inner join {{ ref('stg_commerce_order_discounts') }} as d
        on d.order_id = cp.order_id and d.source = 'coupon:' || cast(cp.definition_id as varchar)
    where cp.campaign_id is not null
),

redemptions as (
    select
        dl.campaign_id as campaign_id,
        dl.order_id as order_id,
        cast(o.created_at as date) as day,
        sum(dl.amount * l.kept_units / l.quantity) as discount_cost
    from campaign_discount_lines as dl
    inner join sold_orders as o using (order_id)
    inner join sold_lines as l using (order_id, line_number)
    group by all
),

-- the orders a campaign answers for: its audience's within the window, or (no audience) its redemptions
attributed_orders as (
    select m.campaign_id as campaign_id, m.customer_id as customer_id, m.assigned_group as assigned_group, o.order_id as order_id, o.created_at as created_at, o.net_revenue as net_revenue
    from members as m
    inner join campaigns as c using (campaign_id)
    inner join sold_orders as o
        on o.customer_id = m.customer_id and o.created_at >= c.launched_at and o.created_at < c.ends_at
    union all
    select r.campaign_id as campaign_id, o.customer_id as customer_id, 'treatment' as assigned_group, o.order_id as order_id, o.created_at as created_at, o.net_revenue as net_revenue
    from redemptions as r
    inner join sold_orders as o using (order_id)
    where r.campaign_id not in (select campaign_id from group_sizes)
),

daily as (
    select
        campaign_id,
        cast(created_at as date) as day,
        count(*) filter (where assigned_group = 'treatment') as orders,
        coalesce(sum(net_revenue) filter (where assigned_group = 'treatment'), 0) as revenue,
        count(*) filter (where assigned_group = 'control') as control_orders,
        coalesce(sum(net_revenue) filter (where assigned_group = 'control'), 0) as control_revenue
    from attributed_orders
    group by all
),

issued as (
    select campaign_id, cast(issued_at as date) as day, count(*) as coupons_issued
    from {{ ref('stg_commerce_coupons') }}
    where campaign_id is not null
    group by all
),

exposed as (
    select
        c.campaign_id as campaign_id,
        e.event_date as day,
        count(distinct coalesce(e.user_id, e.anonymous_id)) as members_exposed
    from {{ ref('stg_events') }} as e
    inner join campaigns as c on e.promotion_id = 'campaign:' || cast(c.campaign_id as varchar)
    where e.event in ('Promotion Viewed', 'Promotion Clicked')
    group by all
),

redeemed as (
    select campaign_id, day, count(*) as redemptions, sum(discount_cost) as discount_cost
    from redemptions
    group by all
),

-- each audience member's revenue from the launch to each day (buyers only: the others add zeros)
member_revenue_to_date as (
    select d.campaign_id as campaign_id, d.day as day, a.customer_id as customer_id, a.assigned_group as assigned_group, sum(a.net_revenue) as revenue
    from days as d
    inner join attributed_orders as a
        on a.campaign_id = d.campaign_id and cast(a.created_at as date) <= d.day
    where d.campaign_id in (select campaign_id from group_sizes)
    group by all
),

to_date as (
    select
        campaign_id,
        day,
        count(*) filter (where assigned_group = 'treatment') as treatment_buyers,
        count(*) filter (where assigned_group = 'control') as control_buyers,
        coalesce(sum(revenue) filter (where assigned_group = 'treatment'), 0) as t_sum,
        coalesce(sum(revenue * revenue) filter (where assigned_group = 'treatment'), 0) as t_sumsq,
        coalesce(sum(revenue) filter (where assigned_group = 'control'), 0) as c_sum,
        coalesce(sum(revenue * revenue) filter (where assigned_group = 'control'), 0) as c_sumsq
    from member_revenue_to_date
    group by all
),

-- gross margin of the treatment group's purchases (list cost from the catalogue); the configured
-- rate where the catalogue has no cost
margin as (
    select
        a.campaign_id as campaign_id,
        1 - cast(sum(l.kept_units * p.cost) as double) / nullif(sum(l.kept_units * l.unit_price), 0) as margin_rate
    from attributed_orders as a
    inner join sold_lines as l using (order_id)
    inner join {{ ref('dim_product') }} as p using (sku)
    where a.assigned_group = 'treatment' and p.cost is not null
    group by a.campaign_id
),

joined as (
    select
        d.campaign_id as campaign_id,
        c.campaign_name as campaign_name,
        c.kind as kind,
        d.day as day,
        coalesce(g.audience_size, 0) as audience_size,
        coalesce(g.treatment_size, 0) as treatment_size,
        coalesce(g.control_size, 0) as control_size,
        coalesce(i.coupons_issued, 0) as coupons_issued,
        coalesce(x.members_exposed, 0) as members_exposed,
        coalesce(r.redemptions, 0) as redemptions,
        coalesce(y.orders, 0) as orders,
        coalesce(y.revenue, 0) as revenue,
        coalesce(y.control_orders, 0) as control_orders,
        coalesce(r.discount_cost, 0) as discount_cost,
        sum(coalesce(r.discount_cost, 0)) over (partition by d.campaign_id order by d.day) as cost_to_date,
        coalesce(t.treatment_buyers, 0) as treatment_buyers,
        coalesce(t.control_buyers, 0) as control_buyers,
        coalesce(t.t_sum, 0) as t_sum,
        coalesce(t.t_sumsq, 0) as t_sumsq,
        coalesce(t.c_sum, 0) as c_sum,
        coalesce(t.c_sumsq, 0) as c_sumsq,
        coalesce(m.margin_rate, {{ var('campaign_default_margin_rate') }}) as margin_rate
    from days as d
    inner join campaigns as c using (campaign_id)
    left join group_sizes as g using (campaign_id)
    left join issued as i using (campaign_id, day)
    left join exposed as x using (campaign_id, day)
    left join redeemed as r using (campaign_id, day)
    left join daily as y using (campaign_id, day)
    left join to_date as t using (campaign_id, day)
    left join margin as m using (campaign_id)
),

lift as (
    select
        *,
        treatment_buyers / nullif(treatment_size, 0) as treatment_conversion,
        control_buyers / nullif(control_size, 0) as control_conversion,
        t_sum / nullif(treatment_size, 0) as t_mean,
        c_sum / nullif(control_size, 0) as c_mean,
        -- sample variances of revenue per member (members who bought nothing count as zeros)
        greatest(t_sumsq - t_sum * t_sum / nullif(treatment_size, 0), 0) / nullif(treatment_size - 1, 0) as t_var,
        greatest(c_sumsq - c_sum * c_sum / nullif(control_size, 0), 0) / nullif(control_size - 1, 0) as c_var
    from joined
),

measured as (
    select
        *,
        case when control_size > 0 then treatment_conversion - control_conversion end as incremental_conversion,
        case when control_size > 0 then sqrt(
            treatment_conversion * (1 - treatment_conversion) / treatment_size
            + control_conversion * (1 - control_conversion) / control_size) end as conversion_se,
        case when control_size > 0 then treatment_size * (t_mean - c_mean) end as incremental_revenue,
        case when control_size > 1 and treatment_size > 1 then
            treatment_size * sqrt(t_var / treatment_size + c_var / control_size) end as revenue_se
    from lift
)

select
    campaign_id,
    campaign_name,
    kind,
    day,
    audience_size,
    treatment_size,
    control_size,
    coupons_issued,
    members_exposed,
    redemptions,
    orders,
    round(revenue, 2) as revenue,
    control_orders,
    round(discount_cost, 2) as discount_cost,
    round(cost_to_date, 2) as cost_to_date,
    treatment_conversion,
    control_conversion,
    incremental_conversion,
    incremental_conversion - 1.96 * conversion_se as incremental_conversion_low,
    incremental_conversion + 1.96 * conversion_se as incremental_conversion_high,
    round(incremental_revenue, 2) as incremental_revenue,
    round(incremental_revenue - 1.96 * revenue_se, 2) as incremental_revenue_low,
    round(incremental_revenue + 1.96 * revenue_se, 2) as incremental_revenue_high,
    cast(round(margin_rate, 4) as double) as margin_rate,
    case when cost_to_date > 0 and incremental_revenue is not null
        then (incremental_revenue * margin_rate - cost_to_date) / cost_to_date end as roi
from measured
