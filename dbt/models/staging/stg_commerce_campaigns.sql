select
    id as campaign_id,
    name as campaign_name,
    kind,
    starts_at,
    ends_at,
    status,
    audience,
    control_percent,
    coupon_definition_id,
    launched_at,
    _extracted_at
from {{ source('raw', 'commerce_campaigns') }}
