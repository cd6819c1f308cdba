select
    id as coupon_id,
    definition_id,
    customer_id,
    campaign_id,
    status,
    order_id,
    issued_at,
    used_at
from {{ source('raw', 'commerce_coupons') }}
