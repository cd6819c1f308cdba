-- Per SKU x location over the last 90 ledger days. Outflow is what a store sells and what a
-- warehouse ships to the locations it replenishes.
with last_day as (select max(stock_date) as d from {{ ref('fct_inventory_daily') }}),
window_90 as (
    select i.* from {{ ref('fct_inventory_daily') }} i, last_day where stock_date > d - interval 90 day
),
per as (
    select
        sku, location_id,
        avg(on_hand) as avg_on_hand,
        sum(sold + abs(transferred_out)) as sold_90d,
        count(*) filter (where on_hand <= 0) as stockout_days_90d,
        max(stock_date) filter (where sold + abs(transferred_out) > 0) as last_sale_date,
        {{ arg_max('on_hand', 'stock_date') }} as on_hand
    from window_90 group by all
)
select
    per.sku as sku, per.location_id, per.avg_on_hand, per.sold_90d, per.stockout_days_90d, per.last_sale_date,
    per.on_hand, p.category as category, s.location_kind as location_kind, s.region as region, (select d from last_day) as as_of,
    case when sold_90d > 0 then avg_on_hand / (sold_90d / 90.0) end as turnover_days,
    case when sold_90d > 0 then on_hand / (sold_90d / 90.0) end as days_of_cover,
    sold_90d / nullif(sold_90d + on_hand, 0) as sell_through,
    cast(on_hand > 0 and (
        last_sale_date is null
        or last_sale_date <= (select d from last_day) - interval {{ var('slow_moving_days') }} day
    ) as boolean) as slow_moving  -- a comparison is UInt8 on ClickHouse
from per
left join {{ ref('dim_product') }} p using (sku)
left join {{ ref('dim_store') }} s on s.store_id = per.location_id
