select
    store_id,
    coalesce(name, store_id) as store_name,
    kind as location_kind,
    coalesce(region, 'unknown') as region,
    city,
    parent_id,
    latitude,
    longitude,
    opened_at
from {{ source('raw', 'stores') }}
