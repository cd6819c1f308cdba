{{ config(unique_key='_batch', incremental_strategy='delete+insert',
          **clickhouse_layout(materialized='incremental', order_by=['event_date', 'session_id'],
                              partition_by='toYYYYMM(event_date)', sharding_key='cityHash64(session_id)')) }}
-- Incremental by feed batch: a re-ingested day replaces that day's events.
select
    event_id, event, occurred_at, event_date, anonymous_id, user_id, session_id, channel, device, sku,
    search_query, list_id, order_id, revenue, coupon_code, promotion_id, funnel_step, _batch, _ingested_at
from {{ ref('stg_events') }}
{% if is_incremental() %}
where {{ batches_loaded_since('events') }}
{% endif %}
