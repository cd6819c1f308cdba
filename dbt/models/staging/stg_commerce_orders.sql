-- Orders of the commerce API at their latest status, one row per order. The API keeps minor units;
-- the warehouse counts in currency units.
select
    order_id,
    customer_id,
    channel,
    fulfillment,
    store_id,
    status,
    total / 100.0 as total,
    paid / 100.0 as paid,
    refunded / 100.0 as refunded,
    created_at,
    updated_at,
    completed_at
from {{ source('raw', 'commerce_orders') }}
