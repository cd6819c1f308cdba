-- inventory_health rolled up by location, by category and in total.
select
    'location' as level, location_id as key, sum(on_hand) as on_hand, sum(sold_90d) as sold_90d,
    sum(avg_on_hand) / nullif(sum(sold_90d) / 90.0, 0) as turnover_days,
    avg(case when slow_moving then 1 else 0 end) as slow_moving_share,
    sum(stockout_days_90d) as stockout_days_90d, any_value(as_of) as as_of
from {{ ref('inventory_health') }} group by location_id
union all
select
    'category', coalesce(category, 'unknown'), sum(on_hand), sum(sold_90d),
    sum(avg_on_hand) / nullif(sum(sold_90d) / 90.0, 0), avg(case when slow_moving then 1 else 0 end),
    sum(stockout_days_90d), any_value(as_of)
from {{ ref('inventory_health') }} group by category
union all
select
    'all', 'all', sum(on_hand), sum(sold_90d), sum(avg_on_hand) / nullif(sum(sold_90d) / 90.0, 0),
    avg(case when slow_moving then 1 else 0 end), sum(stockout_days_90d), any_value(as_of)
from {{ ref('inventory_health') }} having count(*) > 0
