-- Members at medium or high churn risk, most value at risk first.
select
    r.customer_id as customer_id,
    r.churn_probability as churn_probability,
    coalesce(v.clv_365d, 0) as clv_365d,
    r.churn_probability * coalesce(v.clv_365d, 0) as value_at_risk,
    r.recency_days as recency_days,
    r.frequency as frequency,
    row_number() over (order by r.churn_probability * coalesce(v.clv_365d, 0) desc, r.customer_id) as rank
from {{ ref('customer_churn_risk') }} r
left join {{ ref('customer_value') }} v using (customer_id)
where r.risk_band <> 'low'
order by rank
