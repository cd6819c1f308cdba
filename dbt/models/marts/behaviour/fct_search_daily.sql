{{ config(**clickhouse_layout(order_by=['search_date', 'channel'], partition_by='toYYYYMM(search_date)', sharding_key='cityHash64(search_query)')) }}
-- Site and app search per day, channel and query (lower-cased, trimmed): how often it was searched,
-- in how many sessions, and how often a product view followed in the same session (a proxy for
-- "the search found something") or the session ended in an order.
with searches as (
    select
        event_id,
        session_id,
        event_date,
        coalesce(channel, 'unknown') as channel,
        lower(trim(search_query)) as search_query,
        occurred_at
    from {{ ref('fct_events') }}
    where event = 'Products Searched' and nullif(trim(search_query), '') is not null
),

followed as (
    select
        s.event_id as event_id,
        exists (
            select 1 from {{ ref('fct_events') }} v
            where v.session_id = s.session_id and v.event = 'Product Viewed' and v.occurred_at >= s.occurred_at
        ) as viewed_after
    from searches s
)

select
    s.event_date as search_date,
    s.channel as channel,
    s.search_query as search_query,
    count(*) as searches,
    count(distinct s.session_id) as sessions,
    count(*) filter (where f.viewed_after) as searches_with_view,
    count(distinct s.session_id) filter (where ses.converted) as sessions_with_order
from searches s
join followed f using (event_id)
left join {{ ref('fct_sessions') }} ses using (session_id)
group by all
