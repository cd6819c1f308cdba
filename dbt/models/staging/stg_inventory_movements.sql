select
    movement_id,
    location_id,
    sku,
    movement_type,
    quantity,
    moved_at,
    cast(moved_at as date) as movement_date,
    reference,
    _batch,
    _ingested_at
from {{ source('raw', 'inventory_movements') }}
