-- Shipments and pickups of API orders at their latest status.
select
    id as shipment_id,
    order_id,
    location_id,
    status,
    carrier,
    waybill,
    tracking_status,
    updated_at
from {{ source('raw', 'commerce_shipments') }}
