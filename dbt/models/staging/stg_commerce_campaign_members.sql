select
    campaign_id,
    customer_id,
    grp as assigned_group,
    added_at
from {{ source('raw', 'commerce_campaign_members') }}
