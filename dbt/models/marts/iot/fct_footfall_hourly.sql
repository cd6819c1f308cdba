{{ config(**clickhouse_layout(order_by=['visit_date', 'store_id'], partition_by='toYYYYMM(visit_date)', sharding_key='cityHash64(store_id)')) }}
with footfall as (
    select store_id, date_trunc('hour', read_at) as hour, sum(value) as visitors, count(distinct device_id) as counters
    from {{ ref('stg_iot_readings') }}
    where reading_kind = 'footfall'
    group by all
),
store_orders as (
    select store_id, date_trunc('hour', ordered_at) as hour, count(distinct order_id) as in_store_orders
    from {{ ref('fct_order_lines') }}
    where fulfillment = 'in_store' and not is_return
    group by all
)
select
    f.store_id as store_id,
    f.hour as hour,
    cast(f.hour as date) as visit_date,
    f.visitors as visitors,
    f.counters as counters,
    coalesce(o.in_store_orders, 0) as in_store_orders,
    round(coalesce(o.in_store_orders, 0) / nullif(f.visitors, 0), 4) as conversion_rate
from footfall f
left join store_orders o using (store_id, hour)
