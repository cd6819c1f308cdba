select
    sku,
    location_id,
    on_hand as api_on_hand,
    reserved,
    allocated,
    reserved + allocated as committed,
    as_of,
    _ingested_at
from {{ source('raw', 'stock_positions') }}
