select
    customer_id,
    signup_at,
    signup_channel,
    coalesce(region, 'unknown') as region,
    home_store_id,
    birthday,
    gender,
    account_type,
    coalesce(tier, 'silver') as tier
from {{ source('raw', 'customers') }}
