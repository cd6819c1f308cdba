with orders as (
    select customer_id,
           min(ordered_at) as first_order_at,
           max(ordered_at) as last_order_at,
           count(distinct order_id) filter (where not is_return) as orders,
           sum(net_revenue) as net_revenue
    from {{ ref('fct_orders') }}
    where customer_id is not null
    group by customer_id
),
members as (
    select c.*, o.first_order_at as first_order_at, o.last_order_at as last_order_at, o.orders as orders, o.net_revenue as net_revenue
    from {{ ref('stg_customers') }} c
    left join orders o using (customer_id)
)
select customer_id, signup_at, signup_channel, region, home_store_id, birthday, gender, account_type, tier,
       first_order_at, last_order_at, coalesce(orders, 0) as orders, coalesce(net_revenue, 0) as net_revenue
from members
union all
-- buyers with an id but no member record (sources without a customer file)
select o.customer_id, o.first_order_at, null, 'unknown', null, null, null, null, 'silver',
       o.first_order_at, o.last_order_at, o.orders, o.net_revenue
from orders o
where o.customer_id not in (select customer_id from {{ ref('stg_customers') }})
