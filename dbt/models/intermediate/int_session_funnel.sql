-- Ordered funnel per session: a step counts only if it happened at or after the previous step,
-- so step k reached implies step k-1 reached (the funnel can never widen).
with ev as (
    select session_id, funnel_step, occurred_at from {{ ref('stg_events') }} where funnel_step is not null
),
s1 as (select session_id, min(occurred_at) as t1 from ev where funnel_step = 1 group by 1),
s2 as (select e.session_id as session_id, min(e.occurred_at) as t2 from ev e join s1 using (session_id)
       where e.funnel_step = 2 and e.occurred_at >= s1.t1 group by 1),
s3 as (select e.session_id as session_id, min(e.occurred_at) as t3 from ev e join s2 using (session_id)
       where e.funnel_step = 3 and e.occurred_at >= s2.t2 group by 1),
s4 as (select e.session_id as session_id, min(e.occurred_at) as t4 from ev e join s3 using (session_id)
       where e.funnel_step = 4 and e.occurred_at >= s3.t3 group by 1),
s5 as (select e.session_id as session_id, min(e.occurred_at) as t5 from ev e join s4 using (session_id)
       where e.funnel_step = 5 and e.occurred_at >= s4.t4 group by 1)
select
    s1.session_id as session_id,  -- named: ClickHouse would call it s1.session_id
    s1.t1 as viewed_at,
    s2.t2 as added_at,
    s3.t3 as checkout_at,
    s4.t4 as payment_at,
    s5.t5 as completed_at,
    case when s5.t5 is not null then 5 when s4.t4 is not null then 4 when s3.t3 is not null then 3
         when s2.t2 is not null then 2 else 1 end as funnel_depth
from s1
left join s2 using (session_id)
left join s3 using (session_id)
left join s4 using (session_id)
left join s5 using (session_id)
