{{ config(**clickhouse_layout(order_by=['movement_date', 'location_id', 'sku'], partition_by='toYYYYMM(movement_date)', sharding_key='cityHash64(sku)')) }}
-- The commerce API's stock ledger by day, location, SKU and pool: what moved, by kind, and the levels at
-- the end of the day (the ledger is complete from the first receipt, so its running sums are the levels).
with daily as (
    select
        movement_date,
        location_id,
        sku,
        pool,
        sum(case when kind = 'receipt' then on_hand_delta else 0 end) as received,
        sum(case when kind = 'sale' then -on_hand_delta else 0 end) as sold,
        sum(case when kind = 'return' then on_hand_delta else 0 end) as returned,
        sum(case when kind in ('transfer_in', 'transfer_out') then on_hand_delta else 0 end) as transferred,
        sum(case when kind = 'adjustment' then on_hand_delta else 0 end) as adjusted,
        sum(on_hand_delta) as on_hand_change,
        sum(reserved_delta) as reserved_change,
        sum(allocated_delta) as allocated_change,
        count(*) as movements
    from {{ ref('stg_commerce_stock_movements') }}
    group by movement_date, location_id, sku, pool
)

select
    *,
    sum(on_hand_change) over level as on_hand_end,
    sum(reserved_change) over level as reserved_end,
    sum(allocated_change) over level as allocated_end
from daily
window level as (partition by location_id, sku, pool order by movement_date rows unbounded preceding)
