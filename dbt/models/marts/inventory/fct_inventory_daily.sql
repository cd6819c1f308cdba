{{ config(**clickhouse_layout(order_by=['stock_date', 'location_id', 'sku'], partition_by='toYYYYMM(stock_date)', sharding_key='cityHash64(sku)')) }}
-- On hand per SKU x location x day, rebuilt from the movement ledger: one row per day from the
-- pair's first movement to the last day of data, carrying the balance over days without moves.
with moves as (
    select location_id, sku, movement_date,
           sum(quantity) as net_change,
           sum(quantity) filter (where movement_type = 'receipt') as received,
           sum(quantity) filter (where movement_type = 'transfer_in') as transferred_in,
           -sum(quantity) filter (where movement_type = 'transfer_out') as transferred_out,
           -sum(quantity) filter (where movement_type = 'sale') as sold,
           sum(quantity) filter (where movement_type = 'return') as returned,
           sum(quantity) filter (where movement_type = 'adjustment') as adjusted
    from {{ ref('stg_inventory_movements') }}
    group by all
),
pairs as (
    select location_id, sku, min(movement_date) as first_date from moves group by all
),
bounds as (select max(movement_date) as last_date from moves),
spine as (
    select location_id, sku, cast(day as date) as stock_date
    from (select p.location_id, p.sku, {{ day_series('p.first_date', 'b.last_date') }} as day
          from pairs p cross join bounds b) as d
)
select
    spine.sku as sku,
    spine.location_id as location_id,
    spine.stock_date as stock_date,
    sum(coalesce(m.net_change, 0)) over (
        partition by spine.location_id, spine.sku order by spine.stock_date rows unbounded preceding
    ) as on_hand,
    coalesce(m.received, 0) as received,
    coalesce(m.transferred_in, 0) as transferred_in,
    coalesce(m.transferred_out, 0) as transferred_out,
    coalesce(m.sold, 0) as sold,
    coalesce(m.returned, 0) as returned,
    coalesce(m.adjusted, 0) as adjusted
from spine
left join moves m
    on m.location_id = spine.location_id and m.sku = spine.sku and m.movement_date = spine.stock_date
