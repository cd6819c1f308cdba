{#
  The deepest step of an ordered funnel each session reached: step k counts only at or after the time
  step k-1 was first reached after step k-1's own predecessor (so the funnel never widens), over
  `events` (session_id, funnel_step 1..steps, occurred_at). One row per session that reached step 1:
  session_id, funnel_depth (1..steps).
  DuckDB: each step's first time after the step before, joined step by step. ClickHouse: windowFunnel,
  its own aggregate for this (in microseconds, a window longer than any session; at equal times the
  lower step comes first, as `>=` allows above).
#}
{% macro ordered_funnel(events, steps=5) %}
  {{ return(adapter.dispatch('ordered_funnel')(events, steps)) }}
{% endmacro %}

{% macro default__ordered_funnel(events, steps) %}
with ev as (
    select session_id, funnel_step, occurred_at from {{ events }} where funnel_step is not null
),
s1 as (select session_id, min(occurred_at) as t1 from ev where funnel_step = 1 group by 1),
{%- for k in range(2, steps + 1) %}
s{{ k }} as (select e.session_id as session_id, min(e.occurred_at) as t{{ k }}
       from ev e join s{{ k - 1 }} using (session_id)
       where e.funnel_step = {{ k }} and e.occurred_at >= s{{ k - 1 }}.t{{ k - 1 }} group by 1){{ "," if not loop.last }}
{%- endfor %}
select
    s1.session_id as session_id,
    case {% for k in range(steps, 1, -1) %}when s{{ k }}.t{{ k }} is not null then {{ k }} {% endfor %}else 1 end
        as funnel_depth
from s1
{%- for k in range(2, steps + 1) %}
left join s{{ k }} using (session_id)
{%- endfor %}
{% endmacro %}

{% macro clickhouse__ordered_funnel(events, steps) %}
select * from (
    select
        session_id,
        toInt32(windowFunnel(315360000000000)(
            toUInt64(toUnixTimestamp64Micro(assumeNotNull(occurred_at))),
            {%- for k in range(1, steps + 1) %}
            assumeNotNull(funnel_step) = {{ k }}{{ "," if not loop.last }}
            {%- endfor %}
        )) as funnel_depth
    from {{ events }}
    where funnel_step is not null and occurred_at is not null
    group by session_id
) where funnel_depth >= 1
{% endmacro %}
