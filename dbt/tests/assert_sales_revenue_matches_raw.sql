{{ config(meta={'dagster': {'ref': {'name': 'fct_sales_daily'}}}) }}
-- Revenue in the daily sales mart equals the revenue of the accepted raw lines, to the cent
-- (both summed as exact decimals: a double sum over millions of lines drifts by cents).
with mart as (select coalesce(sum(revenue), 0) as r from {{ ref('fct_sales_daily') }}),
raw as (select coalesce(sum(cast(quantity * unit_price as decimal(38, 6))), 0) as r from {{ source('raw', 'transactions') }})
select mart.r as mart_revenue, raw.r as raw_revenue from mart, raw where abs(mart.r - raw.r) > 0.01
