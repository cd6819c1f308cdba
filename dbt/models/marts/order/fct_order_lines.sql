{{ config(unique_key='_batch', incremental_strategy='delete+insert', on_schema_change='append_new_columns',
          post_hook="{{ delete_unsold_commerce_orders() }}",
          **clickhouse_layout(materialized='incremental', order_by=['order_date', 'order_id'],
                              partition_by='toYYYYMM(order_date)', sharding_key='cityHash64(order_id)')) }}
-- Incremental by feed batch: a re-ingested day replaces that day's lines, and an order of the commerce
-- API read again (paid, returned, cancelled since) replaces its own ('commerce:<order id>').
select
    order_id, line_number, customer_id, sku, quantity, unit_price, revenue, discount_amount, net_revenue,
    ordered_at, order_date, store_id, channel, fulfillment, coupon_code, promotion_id, payment_method,
    original_order_id, is_return, source, _batch, _ingested_at
from {{ ref('stg_transactions') }}
{% if is_incremental() %}
where {{ batches_loaded_since('transactions') }}
   or (_batch like 'commerce:%' and _ingested_at > (
       select coalesce(max(_ingested_at), timestamp '1900-01-01') from {{ this }} where _batch like 'commerce:%'))
{% endif %}
