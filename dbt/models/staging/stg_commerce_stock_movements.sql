-- The commerce API's stock ledger: every change of on hand, reserved and allocated stock.
select
    id as movement_id,
    sku,
    location_id,
    pool,
    kind,
    on_hand_delta,
    reserved_delta,
    allocated_delta,
    reference,
    created_at,
    cast(created_at as date) as movement_date
from {{ source('raw', 'commerce_stock_movements') }}
