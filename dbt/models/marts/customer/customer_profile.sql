-- The 360-degree member profile: one row per member of dim_customer, with or without purchases.
select
    -- each column named: ClickHouse would keep the alias. prefix of a name both sides of a join have
    c.customer_id as customer_id, c.signup_at as signup_at, c.signup_channel as signup_channel,
    c.region as region, c.home_store_id as home_store_id, c.birthday as birthday, c.gender as gender,
    c.account_type as account_type, c.tier as tier, c.first_order_at as first_order_at,
    c.last_order_at as last_order_at, c.orders as orders, c.net_revenue as net_revenue,
    r.segment as rfm_segment, r.r_score as r_score, r.f_score as f_score, r.m_score as m_score,
    v.p_alive as p_alive, v.expected_purchases_365d as expected_purchases_365d,
    v.expected_spend as expected_spend, v.clv_365d as clv_365d,
    k.churn_probability as churn_probability, k.risk_band as churn_risk_band,
    {{ star_except('t', ['customer_id', 'as_of']) }}, t.as_of as as_of
from {{ ref('dim_customer') }} c
left join (
    select * from {{ ref('customer_rfm') }}
    where as_of = (select max(as_of) from {{ ref('customer_rfm') }})
) r using (customer_id)
left join {{ ref('customer_value') }} v using (customer_id)
left join {{ ref('customer_churn_risk') }} k using (customer_id)
left join {{ ref('customer_tags') }} t using (customer_id)
