-- Refunds of the commerce API, one row per refund sent to a provider (currency units).
select
    id as refund_id,
    payment_id,
    amount / 100.0 as amount,
    provider_refund_id,
    reason,
    created_at
from {{ source('raw', 'commerce_refunds') }}
