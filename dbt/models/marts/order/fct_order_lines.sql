{{ config(materialized='incremental', unique_key='_batch', incremental_strategy='delete+insert') }}
-- Incremental by feed batch: a re-ingested day replaces that day's lines.
select
    order_id, line_number, customer_id, sku, quantity, unit_price, revenue, discount_amount, net_revenue,
    ordered_at, order_date, store_id, channel, fulfillment, coupon_code, promotion_id, payment_method,
    original_order_id, is_return, _batch, _ingested_at
from {{ ref('stg_transactions') }}
{% if is_incremental() %}
where {{ batches_loaded_since('transactions') }}
{% endif %}
