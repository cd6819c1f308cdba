-- Per API order: what the order says it was paid and refunded against what the payments and refunds
-- record. Finance closes a day on it; a row that does not balance names an order to look at.
with payments as (
    select
        order_id,
        count(*) as payment_attempts,
        sum(case when status = 'failed' then 1 else 0 end) as payments_failed,
        sum(case when status in ('succeeded', 'refunded') then amount else 0 end) as captured
    from {{ ref('stg_commerce_payments') }}
    group by order_id
),

refunds as (
    select p.order_id as order_id, count(*) as refunds, sum(r.amount) as refunded
    from {{ ref('stg_commerce_refunds') }} as r
    inner join {{ ref('stg_commerce_payments') }} as p on p.payment_id = r.payment_id
    group by p.order_id
)

select
    o.order_id as order_id,
    o.customer_id as customer_id,
    o.channel as channel,
    o.status as status,
    cast(o.created_at as date) as order_date,
    o.total as total,
    o.paid as order_paid,
    o.refunded as order_refunded,
    coalesce(p.payment_attempts, 0) as payment_attempts,
    coalesce(p.payments_failed, 0) as payments_failed,
    coalesce(p.captured, 0) as captured,
    coalesce(r.refunds, 0) as refunds,
    coalesce(r.refunded, 0) as refunded,
    coalesce(p.captured, 0) - coalesce(r.refunded, 0) as net_received,
    cast(abs(o.paid - coalesce(p.captured, 0)) < 0.005 and abs(o.refunded - coalesce(r.refunded, 0)) < 0.005 as boolean) as balanced
from {{ ref('stg_commerce_orders') }} as o
left join payments as p on p.order_id = o.order_id
left join refunds as r on r.order_id = o.order_id
