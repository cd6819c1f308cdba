-- The ordered funnel per session (macros/ordered_funnel.sql: windowFunnel on ClickHouse): step k counts
-- only if it happened at or after step k-1, so step k reached implies step k-1 reached.
{{ ordered_funnel(ref('stg_events'), steps=5) }}
