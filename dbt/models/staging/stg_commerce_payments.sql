-- Payments of the commerce API at their latest status (currency units).
select
    id as payment_id,
    order_id,
    provider,
    status,
    amount / 100.0 as amount,
    refunded / 100.0 as refunded,
    provider_txn_id,
    created_at,
    updated_at
from {{ source('raw', 'commerce_payments') }}
