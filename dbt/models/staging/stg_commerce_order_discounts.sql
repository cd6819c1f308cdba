-- The API keeps minor units; the warehouse counts in currency units.
select
    order_id,
    line_number,
    source,
    kind,
    amount / 100.0 as amount,
    created_at
from {{ source('raw', 'commerce_order_discounts') }}
