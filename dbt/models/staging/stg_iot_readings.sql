select
    reading_id,
    device_id,
    kind as reading_kind,
    store_id,
    sku,
    value,
    read_at,
    cast(read_at as date) as read_date,
    _batch,
    _ingested_at
from {{ source('raw', 'iot_readings') }}
