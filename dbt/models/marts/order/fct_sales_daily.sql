{{ config(**clickhouse_layout(order_by=['sale_date', 'store_id', 'sku'], partition_by='toYYYYMM(sale_date)', sharding_key='cityHash64(sku)')) }}
select
    l.sku as sku,
    l.store_id as store_id,
    l.channel as channel,
    l.order_date as sale_date,
    p.category as category,
    s.region as region,
    sum(l.quantity) filter (where l.quantity > 0) as units_sold,
    coalesce(-sum(l.quantity) filter (where l.quantity < 0), 0) as units_returned,
    sum(l.quantity) as net_units,
    sum(l.revenue) as revenue,
    sum(l.discount_amount) as discount_amount,
    sum(l.net_revenue) as net_revenue,
    count(distinct l.order_id) filter (where l.quantity > 0) as orders,
    {{ bool_or('l.promotion_id is not null') }} as on_promotion,
    avg({{ money('l.unit_price') }}) filter (where l.quantity > 0) as avg_unit_price
from {{ ref('fct_order_lines') }} l
left join {{ ref('dim_product') }} p using (sku)
left join {{ ref('dim_store') }} s using (store_id)
group by all
