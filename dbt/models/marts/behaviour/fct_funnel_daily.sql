select
    session_date as funnel_date,
    channel,
    count(*) as sessions,
    count(*) filter (where funnel_depth >= 1) as viewed_product,
    count(*) filter (where funnel_depth >= 2) as added_to_cart,
    count(*) filter (where funnel_depth >= 3) as started_checkout,
    count(*) filter (where funnel_depth >= 4) as entered_payment,
    count(*) filter (where funnel_depth >= 5) as completed_order,
    round(count(*) filter (where funnel_depth >= 5) / nullif(count(*) filter (where funnel_depth >= 1), 0), 4)
        as view_to_order_rate,
    sum(revenue) as revenue
from {{ ref('fct_sessions') }}
group by all
